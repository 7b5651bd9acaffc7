"""`entra-bootstrap consent grant | revoke`: admin consent for the app's requested permissions."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import command, execute, options
from .options import ApiOpt, AppOpt

group = typer.Typer(help="Admin consent: app role assignments and delegated permission grants.",
                    no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(group, name="consent")


def _run(app_ref: str, api: str | None, present: bool, allow_privileged: bool = False) -> None:
    from ..engine import run_steps
    from ..steps import check_app_ref
    from ..steps.consent import ConsentStep

    opts = options()
    step = ConsentStep(check_app_ref(app_ref), api, present=present, allow_privileged=allow_privileged)
    changes = execute(lambda session: run_steps([step], session, plan=opts.dry_run))
    sp_id = next((c.ids.get("servicePrincipalId") for c in changes if c.ids.get("servicePrincipalId")), None)
    result = {"servicePrincipalId": sp_id,
              "appRoleAssignments": [c.ids.get("assignmentId") for c in changes
                                     if c.kind == "appRoleAssignment" and c.ids.get("assignmentId")],
              "oauth2PermissionGrants": [c.ids.get("grantId") for c in changes
                                         if c.kind == "oauth2PermissionGrant" and c.ids.get("grantId")]}
    opts.out.changes(changes, result=result, tsv=[sp_id or ""], dry_run=opts.dry_run)


@command(group, "grant")
def grant(app_ref: AppOpt, api: ApiOpt = None,
          allow_privileged: Annotated[bool, typer.Option(
              "--allow-privileged", help="Consent even to Graph permissions that can take over the "
                                         "tenant (RoleManagement.ReadWrite.Directory, ...).")] = False) -> None:
    """Grant admin consent for every permission the app requests (of one API with --api)."""
    _run(app_ref, api, True, allow_privileged)


@command(group, "revoke")
def revoke(app_ref: AppOpt, api: ApiOpt = None) -> None:
    """Revoke the consent `consent grant` gave (of one API with --api)."""
    _run(app_ref, api, False)
