"""`entra-bootstrap permission add | list | remove`: the app's requested API permissions."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import command, execute, options
from .options import ApiOpt, AppOpt, split_values

group = typer.Typer(help="API permissions the application requests (requiredResourceAccess).",
                    no_args_is_help=True)

RoleOpt = Annotated[Optional[list[str]], typer.Option(
    "--role", metavar="NAME_OR_ID", help="Application permission (app role); repeat or comma-separate.")]
ScopeOpt = Annotated[Optional[list[str]], typer.Option(
    "--scope", metavar="NAME_OR_ID", help="Delegated permission (scope); repeat or comma-separate.")]


def register(root: typer.Typer) -> None:
    root.add_typer(group, name="permission")


def _run(app_ref: str, api: str | None, role: list[str] | None, scope: list[str] | None,
         present: bool) -> None:
    from ..engine import run_steps
    from ..errors import usage_error
    from ..steps import api_app_id, check_app_ref
    from ..steps.permissions import PermissionsStep, check_offline

    opts = options()
    ref = check_app_ref(app_ref)
    api_id = api_app_id(api)
    roles, scopes = split_values(role), split_values(scope)
    if not roles and not scopes:
        raise usage_error("no permission given", code="NoPermission",
                          fix="pass --role NAME (application permission) and/or --scope NAME "
                              "(delegated permission)")
    check_offline(api_id, roles, scopes)
    step = PermissionsStep(ref, api_id, roles, scopes, present=present)
    changes = execute(lambda session: run_steps([step], session, plan=opts.dry_run))
    c = changes[0]
    result = {"appId": c.ids.get("appId"), "resourceAppId": api_id,
              "permissions": [f"{p.type} {p.name}" for p in step_permissions(step)]}
    opts.out.changes(changes, result=result, tsv=[c.ids.get("appId") or ""], dry_run=opts.dry_run)


def step_permissions(step) -> list:
    return list(getattr(step, "resolved", []) or [])


@command(group, "add")
def add(app_ref: AppOpt, role: RoleOpt = None, scope: ScopeOpt = None, api: ApiOpt = None) -> None:
    """Request permissions of an API (merged into requiredResourceAccess, never duplicated)."""
    _run(app_ref, api, role, scope, True)


@command(group, "remove")
def remove(app_ref: AppOpt, role: RoleOpt = None, scope: ScopeOpt = None, api: ApiOpt = None) -> None:
    """Stop requesting permissions of an API (other entries are left as they are)."""
    _run(app_ref, api, role, scope, False)


@command(group, "list")
def list_(app_ref: AppOpt) -> None:
    """List the permissions the application requests, by API, with their names."""
    from ..steps import check_app_ref
    from ..steps.queries import requested_permissions

    opts = options()
    ref = check_app_ref(app_ref)
    rows = execute(lambda session: requested_permissions(session, ref))
    opts.out.records(rows, ["api", "type", "name", "id"], tsv_columns=["resourceAppId", "type", "name", "id"],
                     empty="no permission requested")
