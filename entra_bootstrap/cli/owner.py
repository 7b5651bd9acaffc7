"""`entra-bootstrap owner add | remove | list`: owners of the application.

Ownership lets the owner manage the app; it does not let it get tokens for it (only a federated
identity credential does: Microsoft Entra, "Workload identity federation").
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import command, execute, options
from .options import AppOpt, ResourceGroupOpt

group = typer.Typer(help="Owners of the application (manage it; ownership gives no token for it).",
                    no_args_is_help=True)

PrincipalOpt = Annotated[Optional[str], typer.Option(
    "--principal", metavar="OBJECT_ID", help="Object id of a user, group or service principal.")]
IdentityOpt = Annotated[Optional[str], typer.Option(
    "--identity", metavar="UAMI", help="A user-assigned identity: name (with -g), resource id or principal id.")]


def register(root: typer.Typer) -> None:
    root.add_typer(group, name="owner")


def _run(app_ref: str, principal: str | None, identity: str | None, rg: str | None, present: bool) -> None:
    from ..engine import run_steps
    from ..errors import usage_error
    from ..spec.rules import check_identity_ref
    from ..steps import check_app_ref, check_guid
    from ..steps.owners import OwnerStep

    opts = options()
    ref = check_app_ref(app_ref)
    if bool(principal) == bool(identity):
        raise usage_error("give exactly one of --principal and --identity", code="BadOwner",
                          fix="--principal OBJECT_ID, or --identity NAME -g RG (or its resource id)")
    if principal:
        step = OwnerStep(ref, check_guid(principal, "an object id", "--principal"), present=present)
    else:
        check_identity_ref(identity, rg, "--identity")
        step = OwnerStep(ref, identity=identity.strip(), resource_group=rg, present=present)
    changes = execute(lambda session: run_steps([step], session, plan=opts.dry_run))
    c = changes[0]
    result = {"appId": c.ids.get("appId"), "principalId": c.ids.get("principalId")}
    opts.out.changes(changes, result=result, tsv=[c.ids.get("principalId") or ""], dry_run=opts.dry_run)


@command(group, "add")
def add(app_ref: AppOpt, principal: PrincipalOpt = None, identity: IdentityOpt = None,
        resource_group: ResourceGroupOpt = None) -> None:
    """Make a principal an owner of the application (it can then manage the app, not get tokens for it)."""
    _run(app_ref, principal, identity, resource_group, True)


@command(group, "remove")
def remove(app_ref: AppOpt, principal: PrincipalOpt = None, identity: IdentityOpt = None,
           resource_group: ResourceGroupOpt = None) -> None:
    """Remove an owner of the application."""
    _run(app_ref, principal, identity, resource_group, False)


@command(group, "list")
def list_(app_ref: AppOpt) -> None:
    """List the owners of the application."""
    from ..steps import check_app_ref
    from ..steps.queries import list_owners

    opts = options()
    ref = check_app_ref(app_ref)
    owners = execute(lambda session: list_owners(session, ref))
    rows = [{"id": o.get("id"), "type": (o.get("@odata.type") or "").rsplit(".", 1)[-1],
             "displayName": o.get("displayName"), "appId": o.get("appId")} for o in owners]
    opts.out.records(rows, ["id", "type", "displayName", "appId"], json_doc=owners, tsv_columns=["id"],
                     empty="no owner")
