"""`entra-bootstrap role assign | list | remove`: Azure role assignments (Azure RBAC) of a managed
identity or of an application's service principal. Parsing, calling and rendering only; the work
is in steps/role_assignment.py (assign, remove) and steps/queries.py (list).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import command, execute, options
from .options import ResourceGroupOpt

group = typer.Typer(help="Azure role assignments of a managed identity or an application's service "
                         "principal (Azure RBAC).", no_args_is_help=True)

IdentityOpt = Annotated[Optional[str], typer.Option(
    "--identity", metavar="UAMI", help="A user-assigned identity: name (with -g), resource id or principal id.")]
AppRefOpt = Annotated[Optional[str], typer.Option(
    "--app", "-a", metavar="APP", help="An application (its service principal): client id, object id or "
                                       "unique name.")]
RoleOpt = Annotated[str, typer.Option(
    "--role", metavar="ROLE", help="A role name (Reader, 'Storage Blob Data Reader', ...) or a role "
                                   "definition id.", show_default=False)]
ScopeOpt = Annotated[str, typer.Option(
    "--scope", metavar="SCOPE", help="subscription, resource_group:NAME, or a resource id.",
    show_default=False)]
ListScopeOpt = Annotated[str, typer.Option(
    "--scope", metavar="SCOPE", help="subscription (default), resource_group:NAME, or a resource id: "
                                     "the assignments at, above and below it.")]


def register(root: typer.Typer) -> None:
    root.add_typer(group, name="role")


def _step(identity: str | None, rg: str | None, app_ref: str | None, role: str, scope: str,
          present: bool):
    """The step, after every offline check of the flags (exit 2 before any request)."""
    from ..errors import usage_error
    from ..spec.rules import check_identity_ref, check_role, check_role_scope
    from ..steps import check_app_ref
    from ..steps.role_assignment import RoleAssignmentStep

    if bool(identity) == bool(app_ref):
        raise usage_error("give exactly one of --identity and --app", code="BadPrincipal",
                          fix="--identity NAME -g RG (or its resource id or principal id), or --app APP")
    check_role(role, "--role")
    check_role_scope(scope, "--scope")
    if identity:
        check_identity_ref(identity, rg, "--identity")
        return RoleAssignmentStep(role, scope, identity=identity.strip(), resource_group=rg, present=present)
    return RoleAssignmentStep(role, scope, app_ref=check_app_ref(app_ref), present=present)


def _run(step) -> None:
    from ..engine import run_steps

    opts = options()
    changes = execute(lambda session: run_steps([step], session, plan=opts.dry_run))
    c = changes[0]
    result = {k: c.ids.get(k) for k in ("id", "name", "principalId", "roleDefinitionId", "scope")}
    opts.out.changes(changes, result=result, tsv=[c.ids.get("id") or ""], dry_run=opts.dry_run)


@command(group, "assign")
def assign(role: RoleOpt, scope: ScopeOpt, identity: IdentityOpt = None,
           resource_group: ResourceGroupOpt = None, app_ref: AppRefOpt = None) -> None:
    """Assign an Azure role at a scope to a managed identity or an application's service principal."""
    _run(_step(identity, resource_group, app_ref, role, scope, True))


@command(group, "remove")
def remove(role: RoleOpt, scope: ScopeOpt, identity: IdentityOpt = None,
           resource_group: ResourceGroupOpt = None, app_ref: AppRefOpt = None) -> None:
    """Remove that role assignment (under whatever name it was made)."""
    _run(_step(identity, resource_group, app_ref, role, scope, False))


@command(group, "list")
def list_(identity: IdentityOpt = None, resource_group: ResourceGroupOpt = None, app_ref: AppRefOpt = None,
          scope: ListScopeOpt = "subscription") -> None:
    """List the principal's Azure role assignments at, above and below the scope."""
    from ..steps.queries import list_role_assignments

    opts = options()
    step = _step(identity, resource_group, app_ref, "Reader", scope, True)
    found = execute(lambda session: list_role_assignments(session, step))
    rows = [{"roleName": ra["roleName"], "scope": ra["scope"], "name": ra["name"],
             "principalType": ra["principalType"], "id": ra["id"]} for ra in found]
    opts.out.records(rows, ["roleName", "scope", "name", "principalType"], json_doc=found,
                     tsv_columns=["roleName", "scope", "id"], empty="no role assignment")
