"""Handlers of Azure RBAC (Microsoft.Authorization) at any scope: role assignments (PUT, GET, list
with ``$filter``, DELETE), role definitions of the built-in roles (GET by id, list with
``$filter=roleName eq '…'``) and the caller's own permissions (``Permissions - List For Resource
Group`` / ``List For Resource``).

Role assignments live in ``arm.role_assignments`` (the list ``rbac.allowed`` checks), so an
assignment made here is in force at once. A state entry may be hand-written with just
``principalId``, ``roleDefinitionName`` and ``scope``: it is shown under a name derived from them.

ARM's answers, as documented:
- PUT: 201 with the assignment; an assignment of the same principal, role and scope under any
  name (the same name included: the API is not idempotent) is 409 ``RoleAssignmentExists``; the
  same name for another principal, role or scope is 400 ``RoleAssignmentUpdateNotPermitted``; a
  name that is not a GUID 400 ``InvalidRoleAssignmentId``; an unknown role 400
  ``RoleDefinitionDoesNotExist``; an unknown principal - or one created so recently that it has
  not replicated (``replication_lag``) when the request gives no ``principalType`` - 400
  ``PrincipalNotFound``; the caller needs ``Microsoft.Authorization/roleAssignments/write`` on
  the scope (403 ``AuthorizationFailed``).
- GET of a missing assignment: 404 ``RoleAssignmentNotFound``; DELETE: 200 with the assignment,
  204 when there is none.
- List: the assignments at, above and below the scope; ``$filter`` ``atScope()`` (at or above),
  ``principalId eq '{id}'``, ``assignedTo('{id}')``, joined by ``and``; anything else 400
  ``UnsupportedQuery`` (the emulator's code: the documentation names no code for it).
- Role definitions: the built-in roles with their real ids at every scope; an unknown id 404
  ``RoleDefinitionDoesNotExist``.

Sources: Azure RBAC REST: "Role Assignments - Create", "Role Assignments - Get", "Role
Assignments - Delete", "Role Assignments - List For Scope", "Role Definitions - Get", "Role
Definitions - List", "Permissions - List For Resource Group"; "Assign Azure roles using the REST
API" (principalType and replication delay); "Troubleshoot Azure RBAC" (RoleAssignmentExists,
PrincipalNotFound).
"""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from ..errors import ApiError, arm_error
from ..http import json_response
from ..state import World
from .context import Ctx, utc_now
from .rbac import BUILTIN_ROLES, ROLE_BY_ID, role_actions, role_name_of

RA_TYPE = "Microsoft.Authorization/roleAssignments"
RD_TYPE = "Microsoft.Authorization/roleDefinitions"
RA_WRITE = f"{RA_TYPE}/write"
RA_READ = f"{RA_TYPE}/read"
RA_DELETE = f"{RA_TYPE}/delete"
PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal", "ForeignGroup", "Device")
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# A name for a hand-written state entry that has none (stable, so GET by it works).
_STATE_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")      # uuid.NAMESPACE_URL


# --- scopes -------------------------------------------------------------------------------------
def check_scope(ctx: Ctx, action: str | None = None) -> str:
    """The scope of the path, canonical (as stored): subscription, resource group, resource; in
    ARM's order: subscription (404 ``SubscriptionNotFound``), authorization of ``action`` (403
    ``AuthorizationFailed``), resource group (404 ``ResourceGroupNotFound``), resource (404
    ``ResourceNotFound``)."""
    scope = "/" + ctx.match["scope"].strip("/")
    parts = scope.split("/")
    if len(parts) < 3 or parts[1].lower() != "subscriptions":
        raise arm_error(400, "InvalidScope", f"The scope '{scope}' is not a valid scope.")
    ctx.match["sub"] = parts[2]
    sub = ctx.subscription()
    if action is not None:
        ctx.authorize(action, scope)
    if len(parts) == 3:
        return f"/subscriptions/{sub}"
    if parts[3].lower() != "resourcegroups" or len(parts) < 5:
        raise arm_error(400, "InvalidScope", f"The scope '{scope}' is not a valid scope.")
    rg = ctx.world.arm["resource_groups"].get(parts[4].lower())
    if rg is None:
        raise arm_error(404, "ResourceGroupNotFound", f"Resource group '{parts[4]}' could not be found.")
    if len(parts) == 5:
        return rg["id"]
    res = ctx.world.arm["resources"].get(scope.lower())
    if res is None:
        raise arm_error(404, "ResourceNotFound",
                        f"The Resource '{'/'.join(parts[7:])}' under resource group '{parts[4]}' was "
                        "not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix")
    return res["id"]


def _within(inner: str, outer: str) -> bool:
    a, b = inner.lower().rstrip("/"), outer.lower().rstrip("/")
    return a == b or a.startswith(b + "/")


# --- role definitions ---------------------------------------------------------------------------
def definition_id(world: World, guid: str) -> str:
    return f"/subscriptions/{world.subscription_id}/providers/{RD_TYPE}/{guid}"


def _definition(world: World, name: str) -> dict:
    role = BUILTIN_ROLES[name]
    return {"id": definition_id(world, role["id"]), "name": role["id"], "type": RD_TYPE,
            "properties": {"roleName": name, "type": "BuiltInRole", "description": role["description"],
                           "assignableScopes": ["/"], "permissions": [role_actions(name)],
                           "createdOn": "2015-02-02T21:55:09.8806423Z",
                           "updatedOn": "2024-01-01T00:00:00.0000000Z", "createdBy": None,
                           "updatedBy": None}}


def role_definition_not_found(guid: str, status: int = 404) -> ApiError:
    """404 on a role definition GET; 400 when a role assignment PUT names it."""
    # NOTE: ARM writes the GUID without its dashes here (as `az role assignment create` shows it).
    return arm_error(status, "RoleDefinitionDoesNotExist",
                     f"The specified role definition with ID '{guid.replace('-', '')}' does not exist.")


async def get_role_definition(ctx: Ctx) -> web.Response:
    check_scope(ctx)
    name = ROLE_BY_ID.get(ctx.match["name"].lower())
    if name is None:
        raise role_definition_not_found(ctx.match["name"])
    return json_response(_definition(ctx.world, name))


_ROLE_NAME_FILTER = re.compile(r"\s*rolename\s+eq\s+'(?P<v>[^']*)'\s*", re.I)
_TYPE_FILTER = re.compile(r"\s*type\s+eq\s+'(?P<v>[^']*)'\s*", re.I)


async def list_role_definitions(ctx: Ctx) -> web.Response:
    check_scope(ctx)
    flt = ctx.request.query.get("$filter", "")
    names = list(BUILTIN_ROLES)
    if flt:
        if m := _ROLE_NAME_FILTER.fullmatch(flt):
            names = [n for n in names if n.lower() == m.group("v").lower()]
        elif m := _TYPE_FILTER.fullmatch(flt):
            names = names if m.group("v").lower() == "builtinrole" else []
        else:
            raise _bad_filter(flt)
    return json_response({"value": [_definition(ctx.world, n) for n in names]})


def _bad_filter(flt: str) -> ApiError:
    # NOTE: ARM answers an unsupported $filter with 400; the emulator names what it supports.
    return arm_error(400, "UnsupportedQuery",
                     f"The filter '{flt}' is not supported. Supported filters are atScope(), "
                     "principalId eq '{id}', assignedTo('{id}') (role assignments) and roleName eq "
                     "'{name}' (role definitions).")


# --- role assignments ---------------------------------------------------------------------------
def assignment_name(ra: dict) -> str:
    if ra.get("name"):
        return ra["name"]
    return str(uuid.uuid5(_STATE_NAMESPACE, "|".join(
        (ra.get("scope", "").lower(), role_name_of(ra).lower(), ra.get("principalId", "").lower()))))


def _role_guid(ra: dict) -> str:
    if ra.get("roleDefinitionId"):
        return ra["roleDefinitionId"].rsplit("/", 1)[-1].lower()
    return BUILTIN_ROLES.get(_canonical_role(role_name_of(ra)), {}).get("id", "")


def _canonical_role(name: str) -> str:
    return next((n for n in BUILTIN_ROLES if n.lower() == (name or "").lower()), name)


def assignment_json(world: World, ra: dict) -> dict:
    name = assignment_name(ra)
    scope = ra.get("scope", "")
    return {"id": f"{scope}/providers/{RA_TYPE}/{name}", "name": name, "type": RA_TYPE,
            "properties": {"roleDefinitionId": definition_id(world, _role_guid(ra)),
                           "principalId": ra.get("principalId"),
                           "principalType": ra.get("principalType") or "ServicePrincipal",
                           "scope": scope, "condition": None, "conditionVersion": None,
                           "createdOn": ra.get("createdOn", "2026-01-01T00:00:00.0000000Z"),
                           "updatedOn": ra.get("updatedOn", "2026-01-01T00:00:00.0000000Z"),
                           "createdBy": ra.get("createdBy"), "updatedBy": ra.get("createdBy"),
                           "delegatedManagedIdentityResourceId": None,
                           "description": ra.get("description")}}


def _find(world: World, scope: str, name: str) -> dict | None:
    return next((ra for ra in world.arm["role_assignments"]
                 if ra.get("scope", "").lower() == scope.lower()
                 and assignment_name(ra).lower() == name.lower()), None)


def _principal_exists(world: World, principal_id: str) -> bool:
    # NOTE: ARM resolves the principal in the tenant's directory (users, groups, service principals).
    return principal_id in world.graph["servicePrincipals"] or \
        any(principal_id in world.graph.get(k, {}) for k in ("users", "groups"))


def principal_not_found(world: World, principal_id: str) -> ApiError:
    # NOTE: the message as "Troubleshoot Azure RBAC" quotes it (PrincipalNotFound).
    return arm_error(400, "PrincipalNotFound",
                     f"Principal {principal_id.replace('-', '')} does not exist in the directory "
                     f"{world.tenant_id}. Check that you have the correct principal ID. If you are "
                     "creating this principal and then immediately assigning a role, this error might "
                     "be related to a replication delay. In this case, set the role assignment "
                     "principalType property to a value, such as ServicePrincipal, User, or Group.  "
                     "See https://aka.ms/docs-principaltype")


async def put_role_assignment(ctx: Ctx) -> web.Response:
    scope = check_scope(ctx, RA_WRITE)
    name = ctx.match["name"]
    if not GUID.fullmatch(name):
        raise arm_error(400, "InvalidRoleAssignmentId",
                        f"The role assignment ID '{name}' is not valid. The role assignment ID must be "
                        "a GUID.")
    body = await ctx.body()
    props = body.get("properties")
    if not isinstance(props, dict) or not isinstance(props.get("roleDefinitionId"), str) \
            or not isinstance(props.get("principalId"), str):
        raise arm_error(400, "InvalidRequestContent",
                        "The request content was invalid and could not be deserialized: "
                        "'properties.roleDefinitionId' and 'properties.principalId' are required.")
    role_guid = props["roleDefinitionId"].rstrip("/").rsplit("/", 1)[-1].lower()
    role = ROLE_BY_ID.get(role_guid)
    if role is None:
        raise role_definition_not_found(role_guid, 400)
    principal = props["principalId"].lower()
    ptype = props.get("principalType")
    if ptype is not None and ptype not in PRINCIPAL_TYPES:
        raise arm_error(400, "InvalidPrincipalType",
                        f"The principal type '{ptype}' is not valid. Valid values are "
                        f"{', '.join(PRINCIPAL_TYPES)}.")
    # A principal that has not replicated is unknown to ARM unless the request says its type
    # ("Assign Azure roles using the REST API": set principalType for a new service principal).
    if not _principal_exists(ctx.world, principal) or (ptype is None and ctx.world.lagging(principal)):
        raise principal_not_found(ctx.world, principal)
    same_name = _find(ctx.world, scope, name)
    twin = next((ra for ra in ctx.world.arm["role_assignments"]
                 if ra.get("scope", "").lower() == scope.lower()
                 and ra.get("principalId", "").lower() == principal and _role_guid(ra) == role_guid), None)
    if twin is not None:
        # NOTE: ARM's role assignment PUT is not idempotent: the same assignment again is a 409.
        raise arm_error(409, "RoleAssignmentExists",
                        f"The role assignment already exists. The ID of the existing role assignment "
                        f"is {assignment_name(twin).replace('-', '')}.")
    if same_name is not None:
        raise arm_error(400, "RoleAssignmentUpdateNotPermitted",
                        "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
    now = utc_now()
    ra = {"name": name.lower(), "principalId": principal, "roleDefinitionName": role,
          "roleDefinitionId": definition_id(ctx.world, role_guid),
          "principalType": ptype or _principal_type(ctx.world, principal), "scope": scope,
          "createdOn": now, "updatedOn": now, "createdBy": ctx.caller_oid,
          "description": props.get("description")}
    ctx.world.arm["role_assignments"].append(ra)
    return json_response(assignment_json(ctx.world, ra), 201)


def _principal_type(world: World, principal_id: str) -> str:
    if principal_id in world.graph.get("users", {}):
        return "User"
    if principal_id in world.graph.get("groups", {}):
        return "Group"
    return "ServicePrincipal"


async def get_role_assignment(ctx: Ctx) -> web.Response:
    scope = check_scope(ctx, RA_READ)
    ra = _find(ctx.world, scope, ctx.match["name"])
    if ra is None:
        raise arm_error(404, "RoleAssignmentNotFound",
                        f"The role assignment '{ctx.match['name']}' is not found.")
    return json_response(assignment_json(ctx.world, ra))


async def delete_role_assignment(ctx: Ctx) -> web.Response:
    scope = check_scope(ctx, RA_DELETE)
    ra = _find(ctx.world, scope, ctx.match["name"])
    if ra is None:
        return web.Response(status=204)
    ctx.world.arm["role_assignments"].remove(ra)
    return json_response(assignment_json(ctx.world, ra))


_CLAUSE = re.compile(r"\s*(?:(?P<at>atscope\(\))|principalid\s+eq\s+'(?P<pid>[^']*)'|"
                     r"assignedto\('(?P<to>[^']*)'\))\s*", re.I)


def _parse_filter(flt: str) -> tuple[bool, str | None]:
    at_scope, principal = False, None
    for clause in re.split(r"\s+and\s+", flt.strip(), flags=re.I) if flt.strip() else []:
        m = _CLAUSE.fullmatch(clause)
        if m is None:
            raise _bad_filter(flt)
        at_scope = at_scope or bool(m.group("at"))
        principal = (m.group("pid") or m.group("to") or principal or "").lower() or None
    return at_scope, principal


async def list_role_assignments(ctx: Ctx) -> web.Response:
    scope = check_scope(ctx, RA_READ)
    at_scope, principal = _parse_filter(ctx.request.query.get("$filter", ""))
    out = []
    for ra in ctx.world.arm["role_assignments"]:
        where = ra.get("scope", "")
        if not (_within(scope, where) or (not at_scope and _within(where, scope))):
            continue
        if principal and ra.get("principalId", "").lower() != principal:
            continue
        out.append(assignment_json(ctx.world, ra))
    return json_response({"value": out})


# --- permissions --------------------------------------------------------------------------------
async def list_permissions(ctx: Ctx) -> web.Response:
    """The caller's own actions at the scope: one entry per role assignment that covers it."""
    scope = check_scope(ctx)
    value = [role_actions(_canonical_role(role_name_of(ra))) for ra in ctx.world.arm["role_assignments"]
             if ra.get("principalId") == ctx.caller_oid and _within(scope, ra.get("scope", ""))]
    return json_response({"value": value})

