"""``identity create | enable | disable | show | grant | revoke``: managed identities on VMs, scale
sets and container groups (issue 4), and app roles granted to an identity itself. Parsing, calling
and rendering only; the work is in steps/user_identity.py, steps/vm_identity.py,
steps/container_identity.py, steps/identity_grant.py and steps/queries.py (``show``).
"""

from __future__ import annotations

import sys
from typing import Annotated, List, Optional

import typer

from ..errors import usage_error
from .common import command, confirm, execute, options

identity_app = typer.Typer(
    name="identity", no_args_is_help=True,
    help="Managed identities: create user-assigned ones, attach them to VMs, scale sets and "
         "container groups, detach them, show them.")

ResourceGroup = Annotated[str, typer.Option("--resource-group", "-g", help="Resource group.",
                                            show_default=False)]
Vm = Annotated[Optional[str], typer.Option("--vm", help="Virtual machine name.")]
Vmss = Annotated[Optional[str], typer.Option("--vmss", help="Virtual machine scale set name.")]
ContainerGroupOpt = Annotated[Optional[str], typer.Option(
    "--container-group", help="Container group name (Azure Container Instances).")]
SystemAssigned = Annotated[bool, typer.Option("--system-assigned", help="The system-assigned identity.")]
UserAssigned = Annotated[Optional[List[str]], typer.Option(
    "--user-assigned", help="A user-assigned identity: its name (in -g) or its full resource id. "
                            "Repeat for several.", show_default=False)]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before re-deploying a container "
                                                       "group (every container restarts).")]


def _split(values: Optional[List[str]]) -> list[str]:
    """Repeated options, each possibly holding several space- or comma-separated values."""
    out: list[str] = []
    for value in values or []:
        out += [v for v in value.replace(",", " ").split() if v]
    return out


def _tags(values: Optional[List[str]]) -> dict[str, str] | None:
    if not values:
        return None
    tags: dict[str, str] = {}
    for item in _split(values):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise usage_error(f"--tags '{item}' is not KEY=VALUE", code="BadTag",
                              fix="give tags as --tags team=payments --tags env=prod")
        tags[key] = value
    return tags


def _target(vm: str | None, vmss: str | None, group: str | None) -> tuple[str, str]:
    given = [(k, v) for k, v in (("vm", vm), ("vmss", vmss), ("container-group", group)) if v]
    if len(given) != 1:
        raise usage_error("name exactly one of --vm, --vmss, --container-group", code="BadTarget",
                          fix="e.g. identity enable --vm myVM -g myResourceGroup --system-assigned")
    return given[0]


def _check_inputs(resource_group: str, users: list[str]) -> None:
    """Everything that can be checked offline, before the first request."""
    from ..spec.rules import check_resource_group, split_identity_ref

    check_resource_group(resource_group)
    for value in users:
        split_identity_ref(value, resource_group)


def _confirm_redeploy(yes: bool):
    """The container group confirmation: --yes, or ask on a terminal, or refuse."""

    def ask(change) -> None:
        resend = (change.after or {}).get("resend") or {}
        lines = [f"container group '{change.name}': changing its identity re-deploys it with the same "
                 "definition; every container restarts. Re-sent as it is now:"]
        for c in resend.get("containers", []):
            lines.append(f"  container {c['name']}: image {c['image']}, ports {c['ports'] or '-'}, "
                         f"env {', '.join(c['environmentVariables']) or '-'}, resources {c['resources']}")
        ip = resend.get("ipAddress") or {}
        lines.append(f"  restartPolicy {resend.get('restartPolicy')}, osType {resend.get('osType')}, "
                     f"ipAddress {ip.get('type') or '-'} ports {ip.get('ports') or '-'}")
        lines.append(f"  identity -> {change.after.get('type')}")
        for line in lines:
            sys.stderr.write(line + "\n")
        confirm(yes, f"re-deploying container group '{change.name}' restarts every container")

    return ask


def _identity_result(step) -> tuple[dict, list]:
    attached = step.attached
    doc = {"target": {"kind": step.kind, "name": step.name, "resourceGroup": step.resource_group}}
    if attached is not None:
        doc.update(attached.as_dict())
    principal = attached.system_principal if attached is not None else None
    return doc, [principal or ""]


def _run_identity(mode: str, target: tuple[str, str], resource_group: str, system: bool,
                  users: list[str], upgrade_instances: bool, yes: bool) -> None:
    from ..engine import run_step
    from ..steps.vm_identity import identity_step

    opts = options()
    _check_inputs(resource_group, users)
    kind, name = target
    step = identity_step(kind, name, resource_group, mode, system=system, users=users,
                         upgrade_instances=upgrade_instances, confirm=_confirm_redeploy(yes))

    changes = execute(lambda session: run_step(step, session, plan=opts.dry_run))
    result, tsv = _identity_result(step)
    opts.out.changes(changes, result=result, tsv=tsv, dry_run=opts.dry_run)


@command(identity_app, "create")
def create(name: Annotated[str, typer.Argument(help="Name of the user-assigned identity.")],
           resource_group: ResourceGroup,
           location: Annotated[Optional[str], typer.Option(
               "--location", "-l", help="Region. [default: the resource group's]")] = None,
           tags: Annotated[Optional[List[str]], typer.Option(
               "--tags", help="KEY=VALUE; repeat for several. Replaces the identity's tags.")] = None):
    """Create (or update) a user-assigned managed identity; prints its principalId, clientId,
    tenantId and resource id (`-o tsv`: the principal id only)."""
    from ..spec.rules import check_identity_name, check_resource_group
    from ..engine import run_step
    from ..steps.user_identity import UserIdentityStep

    opts = options()
    check_identity_name(name)
    check_resource_group(resource_group)
    step = UserIdentityStep(name, resource_group, location=location, tags=_tags(tags))
    changes = execute(lambda session: run_step(step, session, plan=opts.dry_run))
    result = step.result.as_dict() if step.result else {"name": name, "resourceGroup": resource_group}
    opts.out.changes(changes, result=result, tsv=[result.get("principalId", "")], dry_run=opts.dry_run)


@command(identity_app, "list")
def list_(resource_group: ResourceGroup):
    """List the user-assigned identities of a resource group (`-o tsv`: name, principal id, client id).

    Example: entra-bootstrap identity list -g myResourceGroup
    """
    from ..spec.rules import check_resource_group
    from ..steps.queries import list_user_assigned_identities

    opts = options()
    check_resource_group(resource_group)
    identities = execute(lambda session: list_user_assigned_identities(session, resource_group))
    rows = [i.as_dict() for i in identities]
    opts.out.records(rows, ["name", "location", "principalId", "clientId"], json_doc=rows,
                     tsv_columns=["name", "principalId", "clientId"],
                     empty=f"no user-assigned identity in resource group '{resource_group}'")


@command(identity_app, "delete")
def delete(name: Annotated[str, typer.Argument(help="Name of the user-assigned identity.")],
           resource_group: ResourceGroup):
    """Delete a user-assigned managed identity (nothing to do when it does not exist).

    Resources it is attached to keep a dangling reference: detach it first
    (`identity disable ... --user-assigned NAME`). Example: entra-bootstrap identity delete mi -g myResourceGroup
    """
    from ..engine import run_step
    from ..spec.rules import check_identity_name, check_resource_group
    from ..steps.user_identity import UserIdentityStep

    opts = options()
    check_identity_name(name)
    check_resource_group(resource_group)
    step = UserIdentityStep(name, resource_group, present=False)
    changes = execute(lambda session: run_step(step, session, plan=opts.dry_run))
    opts.out.changes(changes, result={"name": name, "resourceGroup": resource_group,
                                      "id": changes[0].ids.get("id")},
                     tsv=[changes[0].ids.get("id") or ""], dry_run=opts.dry_run)


def _enable_or_disable(mode: str, resource_group: str, targets: tuple, system_assigned: bool,
                       user_assigned, upgrade_instances: bool, yes: bool) -> None:
    """What enable and disable check before any request, then the run."""
    users = _split(user_assigned)
    target = _target(*targets)
    if not system_assigned and not users:
        raise usage_error(f"nothing to {mode}", code="NothingToDo",
                          fix="pass --system-assigned and/or --user-assigned NAME_OR_ID")
    if upgrade_instances and target[0] != "vmss":
        raise usage_error("--upgrade-instances applies to scale sets (--vmss) only", code="BadOption")
    _run_identity(mode, target, resource_group, system_assigned, users, upgrade_instances, yes)


@command(identity_app, "enable")
def enable(resource_group: ResourceGroup, vm: Vm = None, vmss: Vmss = None,
           container_group: ContainerGroupOpt = None, system_assigned: SystemAssigned = False,
           user_assigned: UserAssigned = None,
           upgrade_instances: Annotated[bool, typer.Option(
               "--upgrade-instances", help="Scale sets with a Manual upgrade policy: upgrade the "
                                           "instances so they get the identity now.")] = False,
           yes: Yes = False):
    """Attach identities to a VM, scale set or container group, keeping the ones already there.
    Prints the system-assigned principal id when there is one (`-o tsv`: only that)."""
    _enable_or_disable("enable", resource_group, (vm, vmss, container_group), system_assigned,
                       user_assigned, upgrade_instances, yes)


@command(identity_app, "disable")
def disable(resource_group: ResourceGroup, vm: Vm = None, vmss: Vmss = None,
            container_group: ContainerGroupOpt = None, system_assigned: SystemAssigned = False,
            user_assigned: UserAssigned = None,
            upgrade_instances: Annotated[bool, typer.Option(
                "--upgrade-instances", help="Scale sets with a Manual upgrade policy: upgrade the "
                                            "instances so the change reaches them now.")] = False,
            yes: Yes = False):
    """Detach only the identities named, leaving the rest."""
    _enable_or_disable("disable", resource_group, (vm, vmss, container_group), system_assigned,
                       user_assigned, upgrade_instances, yes)


@command(identity_app, "show")
def show(name: Annotated[Optional[str], typer.Argument(
             help="A user-assigned identity (name, or resource id without -g).")] = None,
         resource_group: Annotated[Optional[str], typer.Option(
             "--resource-group", "-g", help="Resource group.")] = None,
         vm: Vm = None, vmss: Vmss = None, container_group: ContainerGroupOpt = None,
         grants: Annotated[bool, typer.Option(
             "--grants", help="List the app roles granted to the identity itself (`identity grant`; "
                              "reads Microsoft Graph).")] = False):
    """Show a user-assigned identity, or the identities attached to a VM, scale set or container
    group, with their principal and client ids."""
    opts = options()
    targets = [v for v in (vm, vmss, container_group) if v]
    if name and targets:
        raise usage_error("give either an identity NAME or one of --vm/--vmss/--container-group",
                          code="BadTarget")
    if grants and not name:
        raise usage_error("--grants lists the app roles of one identity: give its NAME (with -g)",
                          code="BadOption", fix="e.g. identity show app-identity -g myResourceGroup --grants")
    if not name:
        _show_attached(_target(vm, vmss, container_group), resource_group)
        return
    from ..spec.rules import check_resource_group, split_identity_ref
    from ..steps.queries import show_user_assigned_identity

    if resource_group:
        check_resource_group(resource_group)
    split_identity_ref(name, resource_group)
    if grants:
        _show_grants(name, resource_group)
        return
    identity = execute(lambda session: show_user_assigned_identity(session, name, resource_group))
    doc = identity.as_dict()
    if opts.out.format == "json":
        opts.out.record(doc)
    else:
        opts.out.record(doc, tsv=[identity.principal_id])


def _show_grants(name: str, resource_group: str | None) -> None:
    from ..steps.queries import identity_grants, show_user_assigned_identity

    opts = options()

    async def read(session):
        identity = await show_user_assigned_identity(session, name, resource_group)
        return identity, await identity_grants(session, identity)

    identity, rows = execute(read)
    opts.out.records(rows, ["api", "role", "assignmentId"], json_doc={**identity.as_dict(), "grants": rows},
                     tsv_columns=["resourceAppId", "role", "appRoleId", "assignmentId"],
                     empty=f"the identity '{identity.name}' holds no app role")


def _show_attached(target: tuple[str, str], resource_group: str | None) -> None:
    from ..spec.rules import check_resource_group
    from ..steps.queries import attached_identities, target_label

    opts = options()
    if not resource_group:
        raise usage_error("-g RESOURCE_GROUP is required with --vm/--vmss/--container-group",
                          code="MissingResourceGroup")
    check_resource_group(resource_group)
    kind, name = target
    obj = target_label(kind, name, resource_group)
    attached = execute(lambda session: attached_identities(session, kind, name, resource_group))
    doc = {"target": {"kind": kind, "name": name, "resourceGroup": resource_group}, **attached.as_dict()}
    opts.out.records(attached.rows(), ["type", "name", "principalId", "clientId"], json_doc=doc,
                     tsv_columns=["type", "principalId", "clientId", "id"],
                     empty=f"{obj} has no managed identity")


# --- grant | revoke: app roles on the identity's own service principal ----------------------------------
IdentityRef = Annotated[str, typer.Argument(
    metavar="NAME", help="The user-assigned identity: its name (with -g), resource id, or principal id.")]
GrantGroup = Annotated[Optional[str], typer.Option(
    "--resource-group", "-g", help="Resource group of the identity named by name.")]
GrantApi = Annotated[Optional[str], typer.Option(
    "--api", metavar="API", help="\"Microsoft Graph\" (default) or the API's client id (appId).")]


def _grant_role_option(help_: str):
    return Annotated[Optional[List[str]], typer.Option("--role", metavar="NAME_OR_ID", help=help_)]


GrantRoles = _grant_role_option("Application permission (app role) of the API; repeat or comma-separate.")
RevokeRoles = _grant_role_option("The app role to revoke; repeat or comma-separate. [default: every app "
                                 "role the identity holds on the API]")


def _run_grant(name: str, resource_group: str | None, api: str | None, roles: list[str] | None,
               present: bool, allow_privileged: bool = False) -> None:
    from ..engine import run_steps
    from ..spec.rules import check_identity_ref
    from ..steps.identity_grant import IdentityGrantStep, check_roles_offline

    from .options import split_values

    opts = options()
    check_identity_ref(name, resource_group)
    wanted = split_values(roles)
    if present and not wanted:
        raise usage_error("no role given", code="NoPermission",
                          fix="pass --role NAME (an application permission of the API), e.g. "
                              "--role User.Read.All")
    api_id = check_roles_offline(api, wanted, allow_privileged or not present)
    step = IdentityGrantStep(name, resource_group, api_id, wanted or None, present=present,
                             allow_privileged=allow_privileged)
    changes = execute(lambda session: run_steps([step], session, plan=opts.dry_run))
    principal = step.principal_id or ""
    # What the identity holds on the API after the run (planned: would hold).
    held = [c for c in changes if ": " in c.name and
            (c.action == "create" or (c.action == "unchanged" and c.reason == "granted"))]
    result = {"principalId": principal or None, "resourceAppId": api_id,
              "roles": [c.name.rsplit(": ", 1)[-1] for c in held],
              "appRoleAssignments": [c.ids["assignmentId"] for c in held if c.ids.get("assignmentId")]}
    opts.out.changes(changes, result=result, tsv=[principal], dry_run=opts.dry_run)


@command(identity_app, "grant")
def grant(name: IdentityRef, resource_group: GrantGroup = None, api: GrantApi = None,
          role: GrantRoles = None,
          allow_privileged: Annotated[bool, typer.Option(
              "--allow-privileged", help="Grant even Graph permissions that can take over the tenant "
                                         "(RoleManagement.ReadWrite.Directory, ...).")] = False):
    """Grant app roles of an API (Microsoft Graph by default) to the identity itself: its own
    managed identity token carries them (`az login --identity`, Terraform's microsoft365 provider
    with auth_method = "managed_identity"). `-o tsv`: the identity's principal id."""
    _run_grant(name, resource_group, api, role, True, allow_privileged)


@command(identity_app, "revoke")
def revoke(name: IdentityRef, resource_group: GrantGroup = None, api: GrantApi = None,
           role: RevokeRoles = None):
    """Revoke app roles `identity grant` gave (without --role: every app role the identity holds
    on the API)."""
    _run_grant(name, resource_group, api, role, False)


def register(app: typer.Typer) -> None:
    app.add_typer(identity_app, name="identity")
