"""The read-only commands' work: what ``app show``, ``sp show``, ``permission list``, ``owner list``,
``federation list``, ``identity show`` and ``whoami`` read, through the lookups and the named
client operations. Each takes the run's session and returns plain data for the CLI to render.
"""

from __future__ import annotations

from ..clients.arm import arm
from ..errors import not_found
from .identity_attachment import TARGET_KINDS, TARGETS, Attached
from .lookups import (UserAssignedIdentity, find_service_principal, require_application,
                      resolve_user_assigned_identity)

async def show_application(session, ref: str) -> dict:
    """The application by client id, object id or unique name (exit 4 when there is none)."""
    return await require_application(session, ref)


async def show_service_principal(session, ref: str) -> dict:
    """The service principal of the application ``ref`` (exit 4 when either does not exist)."""
    app = await require_application(session, ref)
    sp = await find_service_principal(session, app["appId"], retry=True)
    if sp is None:
        raise not_found(f"application '{ref}' has no service principal", code="ServicePrincipalNotFound",
                        object=f"application '{ref}'", fix=f"entra-bootstrap sp create --app {ref}")
    return sp


async def requested_permissions(session, ref: str) -> list[dict]:
    """One row per permission the application requests: api, resourceAppId, type, name, id."""
    from .permissions import names_of

    app = await require_application(session, ref)
    rows = []
    for entry in app.get("requiredResourceAccess") or []:
        api_id = entry.get("resourceAppId", "")
        resource = await find_service_principal(session, api_id)
        access = entry.get("resourceAccess") or []
        for a, label in zip(access, names_of(resource, access)):
            rows.append({"api": (resource or {}).get("displayName") or api_id, "resourceAppId": api_id,
                         "type": a.get("type"), "name": label.split(" ", 1)[1], "id": a.get("id")})
    return rows


async def list_owners(session, ref: str) -> list[dict]:
    """The application's owners, as Graph returns them."""
    app = await require_application(session, ref)
    return await session.graph_ops.list_owners(app["id"], ref)


async def list_fics(session, ref: str) -> list[dict]:
    """The application's federated identity credentials, as Graph returns them."""
    app = await require_application(session, ref)
    return await session.graph_ops.list_fics(app["id"], ref)


async def whoami(session) -> dict:
    """Who the operator is, from the claims of its Graph token (decoded, never printed)."""
    claims = await session.graph_token_claims()
    return {"credential": session.credential.used, "cloud": session.cloud.name,
            "tenantId": claims.get("tid"), "principalId": claims.get("oid"),
            "appId": claims.get("appid") or claims.get("azp"),
            "principalType": "user" if claims.get("idtyp") == "user" or claims.get("upn")
            else "application",
            "user": claims.get("upn") or claims.get("preferred_username"),
            "audience": claims.get("aud"),
            "graphRoles": sorted(claims.get("roles") or []),
            "graphScopes": sorted((claims.get("scp") or "").split())}


async def list_user_assigned_identities(session, resource_group: str) -> list[UserAssignedIdentity]:
    """``identity list -g RG``: the resource group's user-assigned identities, by name."""
    from ..clients.arm import IdentityRef

    bodies = await arm(session).list_identities(resource_group)
    out = [UserAssignedIdentity.from_arm(IdentityRef(session.subscription_id, resource_group,
                                                     b.get("name", "")), b) for b in bodies]
    return sorted(out, key=lambda i: i.name.lower())


async def show_user_assigned_identity(session, name: str, resource_group: str | None) -> UserAssignedIdentity:
    """A user-assigned identity by name (with ``resource_group``) or resource id."""
    return await resolve_user_assigned_identity(session, name, resource_group)


async def identity_grants(session, identity: UserAssignedIdentity) -> list[dict]:
    """One row per app role the identity's own service principal holds (``identity grant``): api,
    resourceAppId, role, appRoleId, assignmentId."""
    assignments = await session.graph_ops.list_app_role_assignments(identity.principal_id, identity.name)
    apis: dict[str, dict | None] = {}
    rows = []
    for a in assignments:
        resource_id = (a.get("resourceId") or "").lower()
        if resource_id not in apis:
            apis[resource_id] = await session.graph_ops.get_service_principal(resource_id, what="API")
        resource = apis[resource_id] or {}
        role = next((r for r in resource.get("appRoles") or []
                     if (r.get("id") or "").lower() == (a.get("appRoleId") or "").lower()), {})
        rows.append({"api": resource.get("displayName") or a.get("resourceDisplayName") or resource_id,
                     "resourceAppId": resource.get("appId", ""), "role": role.get("value") or a.get("appRoleId"),
                     "appRoleId": a.get("appRoleId"), "assignmentId": a.get("id")})
    return rows


def target_label(kind: str, name: str, resource_group: str) -> str:
    """How a VM, scale set or container group (``kind`` vm | vmss | container-group) is named."""
    return f"{TARGETS[TARGET_KINDS[kind]][0]} '{name}' in resource group '{resource_group}'"


async def attached_identities(session, kind: str, name: str, resource_group: str) -> Attached:
    """The identities a VM, scale set or container group holds."""
    tkind = TARGET_KINDS[kind]
    obj = target_label(kind, name, resource_group)
    client = arm(session)
    if tkind == "containerGroup":
        resource = await client.get_container_group(resource_group, name, obj)
    else:
        resource = await client.get_compute(tkind, resource_group, name, obj)
    return Attached.of(resource)


async def list_role_assignments(session, step) -> list[dict]:
    """``role list``: the Azure role assignments of the principal of ``step`` (a
    steps/role_assignment.RoleAssignmentStep, for its principal and scope) at, above and below its
    scope, each with its role's name."""
    from ..clients.arm_authorization import authorization
    from .role_assignment import scope_path

    step.scope = scope_path(step.scope_parsed, session.subscription_id)
    principal, who, missing = await step._principal(session)
    if principal is None:
        raise not_found(f"{missing} of '{who}' does not exist", code="PrincipalNotFound", object=who,
                        fix="create it first")
    ops = authorization(session)
    found = await ops.list_role_assignments(step.scope, principal)
    names = {d["name"].lower(): d["roleName"]
             for d in await ops.list_role_definitions(f"/subscriptions/{session.subscription_id}")}
    return [{**ra, "roleName": names.get((ra.get("roleDefinitionId") or "").rsplit("/", 1)[-1].lower(), "")}
            for ra in found]
