"""App role assignments a principal holds on an API, diffed and written the same way for admin
consent (steps/consent.py: the app's service principal) and for direct grants to a managed
identity (steps/identity_grant.py: the identity's service principal).

Microsoft Graph: "Grant an appRoleAssignment for a service principal" (``assign_app_role``:
POST /servicePrincipals/{resource}/appRoleAssignedTo with principalId, resourceId, appRoleId),
"List appRoleAssignments granted to a service principal" (``list_app_role_assignments``) and
"Delete appRoleAssignment" (``delete_app_role_assignment``). The assignments are read once before
the diff; a duplicate after a lost response ("Permission being assigned already exists on the
object.") counts as done (clients/graph_ops.py).
"""

from __future__ import annotations

from ..engine import Change


def find_assignment(assignments: list[dict], resource_id: str, app_role_id: str) -> dict | None:
    """The assignment of ``app_role_id`` on the resource service principal ``resource_id``."""
    return next((a for a in assignments if (a.get("resourceId") or "").lower() == resource_id.lower()
                 and (a.get("appRoleId") or "").lower() == app_role_id.lower()), None)


def held_role_ids(assignments: list[dict], resource_sp: dict) -> list[str]:
    """The ids of the resource's app roles the principal holds (roles the API no longer defines
    are left out: they cannot be named)."""
    defined = {(r.get("id") or "").lower() for r in resource_sp.get("appRoles") or []}
    out: list[str] = []
    for a in assignments:
        role = (a.get("appRoleId") or "").lower()
        if (a.get("resourceId") or "").lower() == resource_sp["id"].lower() and role in defined \
                and role not in out:
            out.append(role)
    return out


def role_changes(kind: str, name: str, principal_id: str, resource_sp: dict, perms: list,
                 assignments: list[dict], *, present: bool, id_key: str = "servicePrincipalId",
                 held: str = "consented", missing: str = "not consented") -> list[tuple[Change, dict]]:
    """One Change per application permission (``Permission`` of type Role) of ``perms``: create
    what is missing (``present``) or delete what is held; with what ``apply_role`` needs."""
    out = []
    api = resource_sp.get("displayName") or resource_sp["appId"]
    for p in (p for p in perms if p.type == "Role"):
        hit = find_assignment(assignments, resource_sp["id"], p.id)
        label = f"{name} -> {api}: {p.name}"
        ids = {id_key: principal_id, "appRoleId": p.id}
        if hit:
            ids["assignmentId"] = hit["id"]
        if present and hit is None:
            change = Change(kind, label, "create", ids, reason=missing)
        elif not present and hit is not None:
            change = Change(kind, label, "delete", ids, reason="revoke requested")
        else:
            change = Change(kind, label, "unchanged", ids, reason=held if present else missing)
        out.append((change, {"resource": resource_sp, "perm": p, "hit": hit}))
    return out


async def apply_role(ops, principal_id: str, change: Change, todo: dict) -> None:
    """Write one change of ``role_changes``."""
    if change.action == "delete":
        await ops.delete_app_role_assignment(principal_id, todo["hit"]["id"], label=change.name)
        return
    await ops.assign_app_role(todo["resource"]["id"], principal_id, todo["perm"].id, label=change.name)


async def fill_assignment_ids(ops, principal_id: str, plans: list[tuple[Change, dict]]) -> None:
    """After the writes: the ids of the created assignments (one read of the assignments)."""
    created = [(c, t) for c, t in plans if c.action == "create" and c.applied]
    if not created:
        return
    assignments = await ops.list_app_role_assignments(principal_id)
    for change, todo in created:
        hit = find_assignment(assignments, todo["resource"]["id"], todo["perm"].id)
        if hit:
            change.ids["assignmentId"] = hit["id"]
