"""`entra-bootstrap sp create | show | delete --app APP`: the application's service principal."""

from __future__ import annotations

import typer

from .common import command, execute, options
from .options import AppOpt

group = typer.Typer(help="The application's service principal, keyed by its appId.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(group, name="sp")


def _run(app_ref: str, present: bool) -> None:
    from ..engine import run_steps
    from ..steps import check_app_ref
    from ..steps.service_principal import ServicePrincipalStep

    opts = options()
    step = ServicePrincipalStep(check_app_ref(app_ref), present=present)
    changes = execute(lambda session: run_steps([step], session, plan=opts.dry_run))
    ids = changes[0].ids
    result = {"objectId": ids.get("objectId"), "appId": ids.get("appId")}
    opts.out.changes(changes, result=result, tsv=[ids.get("objectId") or ""], dry_run=opts.dry_run)


@command(group, "create")
def create(app_ref: AppOpt) -> None:
    """Create the service principal of the application (upsert by appId). -o tsv: its object id."""
    _run(app_ref, True)


@command(group, "delete")
def delete(app_ref: AppOpt) -> None:
    """Delete the application's service principal (nothing to do when there is none)."""
    _run(app_ref, False)


@command(group, "show")
def show(app_ref: AppOpt) -> None:
    """Show the application's service principal."""
    from ..steps import check_app_ref
    from ..steps.queries import show_service_principal

    opts = options()
    ref = check_app_ref(app_ref)
    sp = execute(lambda session: show_service_principal(session, ref))
    if opts.output == "json":
        opts.out.record(sp)
    else:
        opts.out.record({"displayName": sp.get("displayName"), "objectId": sp.get("id"),
                         "appId": sp.get("appId"), "servicePrincipalType": sp.get("servicePrincipalType"),
                         "accountEnabled": sp.get("accountEnabled")}, tsv=[sp.get("id"), sp.get("appId")])
