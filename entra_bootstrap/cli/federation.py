"""`entra-bootstrap federation add | list | remove`: federated identity credentials of the app."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import command, execute, options
from .options import AppOpt, ResourceGroupOpt

group = typer.Typer(help="Federated identity credentials: who may exchange its token for the app's.",
                    no_args_is_help=True)

NameOpt = Annotated[Optional[str], typer.Option(
    "--name", "-n", help="Credential name (3-120 letters, digits, '-', '_'); default: derived from the source.")]


def register(root: typer.Typer) -> None:
    root.add_typer(group, name="federation")


@command(group, "add")
def add(
    app_ref: AppOpt,
    name: NameOpt = None,
    managed_identity: Annotated[Optional[str], typer.Option(
        "--managed-identity", metavar="UAMI", rich_help_panel="Sources",
        help="A user-assigned identity: name (with -g), resource id or principal id.")] = None,
    resource_group: ResourceGroupOpt = None,
    github: Annotated[Optional[str], typer.Option(
        "--github", metavar="OWNER/REPO", rich_help_panel="Sources", help="GitHub Actions of this repository.")] = None,
    branch: Annotated[Optional[str], typer.Option("--branch", rich_help_panel="Sources")] = None,
    environment: Annotated[Optional[str], typer.Option("--environment", rich_help_panel="Sources")] = None,
    tag: Annotated[Optional[str], typer.Option("--tag", rich_help_panel="Sources")] = None,
    pull_request: Annotated[bool, typer.Option("--pull-request", rich_help_panel="Sources")] = False,
    gitlab: Annotated[Optional[str], typer.Option(
        "--gitlab", metavar="GROUP/PROJECT", rich_help_panel="Sources",
        help="GitLab CI/CD of this project (nested groups too), with --branch or --tag.")] = None,
    gitlab_url: Annotated[Optional[str], typer.Option(
        "--gitlab-url", metavar="URL", rich_help_panel="Sources",
        help="A self-managed GitLab instance (the issuer). Default: https://gitlab.com.")] = None,
    azure_devops: Annotated[bool, typer.Option(
        "--azure-devops", rich_help_panel="Sources",
        help="An Azure DevOps service connection (give its --issuer and --subject).")] = False,
    kubernetes: Annotated[bool, typer.Option(
        "--kubernetes", rich_help_panel="Sources",
        help="A Kubernetes service account (--issuer = the cluster's OIDC issuer URL).")] = False,
    namespace: Annotated[Optional[str], typer.Option("--namespace", rich_help_panel="Sources")] = None,
    service_account: Annotated[Optional[str], typer.Option("--service-account", rich_help_panel="Sources")] = None,
    issuer: Annotated[Optional[str], typer.Option("--issuer", rich_help_panel="Sources")] = None,
    subject: Annotated[Optional[str], typer.Option("--subject", rich_help_panel="Sources")] = None,
    audience: Annotated[Optional[str], typer.Option(
        "--audience", help="Default: the cloud's token-exchange audience (api://AzureADTokenExchange).")] = None,
    description: Annotated[Optional[str], typer.Option("--description")] = None,
) -> None:
    """Add (or update) a federated identity credential, upserted by name."""
    from ..engine import run_steps
    from ..spec.sources import validate
    from ..steps import check_app_ref
    from ..steps.federation import FederationSource, FederationStep

    opts = options()
    ref = check_app_ref(app_ref)
    # The flags are the keys of the sources (spec/sources.py), but for --kubernetes --issuer URL:
    # the file's kubernetes_issuer. The checks are the sources' own, the same as for a file.
    src = FederationSource(
        name=name, managed_identity=managed_identity, resource_group=resource_group, github=github,
        branch=branch, environment=environment, tag=tag, pull_request=pull_request,
        gitlab=gitlab, gitlab_url=gitlab_url, kubernetes_issuer=(issuer or "") if kubernetes else None, namespace=namespace,
        service_account=service_account, azure_devops=azure_devops,
        issuer=None if kubernetes else issuer, subject=subject, audience=audience, description=description)
    validate(src)
    step = FederationStep(ref, src)
    changes = execute(lambda session: run_steps([step], session, plan=opts.dry_run))
    c = changes[0]
    result = {"name": c.name.rsplit("/", 1)[-1], "id": c.ids.get("id"), "issuer": c.ids.get("issuer"),
              "subject": c.ids.get("subject"), "appId": c.ids.get("appId")}
    opts.out.changes(changes, result=result, tsv=[result["name"]], dry_run=opts.dry_run)


@command(group, "remove")
def remove(app_ref: AppOpt, name: Annotated[str, typer.Option("--name", "-n", help="The credential's name.")]) -> None:
    """Remove a federated identity credential by name (nothing to do when it does not exist)."""
    from ..engine import run_steps
    from ..spec.rules import check_fic_name
    from ..steps import check_app_ref
    from ..steps.federation import FederationSource, FederationStep

    opts = options()
    ref = check_app_ref(app_ref)
    check_fic_name(name, "--name")
    step = FederationStep(ref, FederationSource(name=name), present=False, explicit_removal=True)
    changes = execute(lambda session: run_steps([step], session, plan=opts.dry_run))
    opts.out.changes(changes, result={"name": name, "id": changes[0].ids.get("id")},
                     tsv=[changes[0].ids.get("id") or ""], dry_run=opts.dry_run)


@command(group, "list")
def list_(app_ref: AppOpt) -> None:
    """List the application's federated identity credentials."""
    from ..steps import check_app_ref
    from ..steps.queries import list_fics

    opts = options()
    ref = check_app_ref(app_ref)
    fics = execute(lambda session: list_fics(session, ref))
    rows = [{"name": f.get("name"), "issuer": f.get("issuer"), "subject": f.get("subject"),
             "audiences": f.get("audiences"), "id": f.get("id")} for f in fics]
    opts.out.records(rows, ["name", "issuer", "subject", "audiences"], json_doc=fics,
                     tsv_columns=["name", "issuer", "subject", "audiences", "id"], empty="no federated credential")
