"""`entra-bootstrap app create | show | delete`: the application registration."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import command, execute, options

group = typer.Typer(help="The application (app registration), keyed by its unique name.",
                    no_args_is_help=True)

AppArg = Annotated[str, typer.Argument(metavar="APP", help="Client id, object id or unique name.")]


def register(root: typer.Typer) -> None:
    root.add_typer(group, name="app")


def app_result(change) -> dict:
    return {"appId": change.ids.get("appId"), "objectId": change.ids.get("objectId"),
            "uniqueName": change.ids.get("uniqueName")}


@command(group, "create")
def create(
    name: Annotated[str, typer.Argument(help="Display name of the application.")],
    unique_name: Annotated[Optional[str], typer.Option(
        "--unique-name", help="The key the app is upserted by (immutable once set). Default: NAME "
                              "lower-cased, runs of other characters than letters, digits, '.', '_' "
                              "and '-' replaced by '-'.")] = None,
    sign_in_audience: Annotated[Optional[str], typer.Option(
        "--sign-in-audience", help="AzureADMyOrg (Graph's default), AzureADMultipleOrgs, "
                                   "AzureADandPersonalMicrosoftAccount or PersonalMicrosoftAccount.")] = None,
) -> None:
    """Create the application, or update its display name (upsert by unique name). -o tsv: client id."""
    from ..engine import run_steps
    from ..spec import rules
    from ..steps.application import ApplicationStep

    opts = options()
    rules.check_display_name(name, "NAME")
    unique = rules.unique_name_for(name, unique_name, "--unique-name")
    if sign_in_audience is not None:
        sign_in_audience = rules.check_sign_in_audience(sign_in_audience, "--sign-in-audience")
    step = ApplicationStep(unique, name, sign_in_audience)
    changes = execute(lambda session: run_steps([step], session, plan=opts.dry_run))
    result = app_result(changes[0])
    opts.out.changes(changes, result=result, tsv=[result["appId"]], dry_run=opts.dry_run)


@command(group, "show")
def show(app_ref: AppArg) -> None:
    """Show the application: ids, names, sign-in audience, requested permissions."""
    from ..steps import check_app_ref
    from ..steps.queries import show_application

    opts = options()
    ref = check_app_ref(app_ref)
    app = execute(lambda session: show_application(session, ref))
    fields = {"displayName": app.get("displayName"), "uniqueName": app.get("uniqueName"),
              "appId": app.get("appId"), "objectId": app.get("id"),
              "signInAudience": app.get("signInAudience"),
              "requiredResourceAccess": [f"{e.get('resourceAppId')}: {len(e.get('resourceAccess') or [])}"
                                         for e in app.get("requiredResourceAccess") or []]}
    if opts.output == "json":
        opts.out.record(app)
    else:
        opts.out.record(fields, tsv=[app.get("appId"), app.get("id"), app.get("uniqueName")])


@command(group, "delete")
def delete(app_ref: AppArg) -> None:
    """Delete the application (nothing to do when it does not exist)."""
    from ..engine import run_steps
    from ..steps import check_app_ref
    from ..steps.application import ApplicationStep

    opts = options()
    ref = check_app_ref(app_ref)
    step = ApplicationStep(ref, present=False)
    changes = execute(lambda session: run_steps([step], session, plan=opts.dry_run))
    result = app_result(changes[0])
    opts.out.changes(changes, result=result, tsv=[result["appId"] or ""], dry_run=opts.dry_run)
