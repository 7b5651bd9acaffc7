"""Graph v1.0 servicePrincipals, appRoleAssignments (``appRoleAssignedTo`` on the resource,
``appRoleAssignments`` on the client) and oauth2PermissionGrants.

Sources: microsoft-graph-docs-contrib api-reference/v1.0 (serviceprincipal-post-serviceprincipals,
serviceprincipal-upsert, serviceprincipal-post-approleassignedto, serviceprincipal-post-approleassignments,
oauth2permissiongrant-post, oauth2permissiongrant-update) and FACTS.md ("Admin consent",
"Replication delay"). Not emulated: users and groups as principals, claims-mapping and other
policies, soft delete.
"""

from __future__ import annotations

import copy
import uuid

from aiohttp import web

from .errors import graph_error
from .graph_apps import APP_DEFAULTS, delete_service_principal, require_any, unknown_property
from .graph_common import APP_READ, APP_WRITE, ASSIGNMENT_WRITE, GRANT_READ, GRANT_WRITE, Ctx, Key, \
    Ref, b64_id, bad_request, denied, entity_response, invalid_value, is_guid, no_content, \
    not_a_valid_reference, not_found, now, visible
from .graph_query import collection_response

DEFAULT_ACCESS_ROLE = "00000000-0000-0000-0000-000000000000"
CONSENT_TYPES = ("AllPrincipals", "Principal")

SP_DEFAULTS = {
    "deletedDateTime": None, "accountEnabled": True, "addIns": [], "alternativeNames": [],
    "appDescription": None, "appDisplayName": None, "applicationTemplateId": None,
    "appOwnerOrganizationId": None, "appRoleAssignmentRequired": False,
    "description": None, "disabledByMicrosoftStatus": None, "displayName": None, "homepage": None,
    "loginUrl": None, "logoutUrl": None, "notes": None, "notificationEmailAddresses": [],
    "preferredSingleSignOnMode": None, "preferredTokenSigningKeyThumbprint": None, "replyUrls": [],
    "servicePrincipalNames": [], "servicePrincipalType": "Application", "signInAudience": None,
    "tags": [], "tokenEncryptionKeyId": None, "samlSingleSignOnSettings": None,
    "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
    "appRoles": [], "info": {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None,
                             "supportUrl": None, "termsOfServiceUrl": None},
    "keyCredentials": [], "oauth2PermissionScopes": [], "passwordCredentials": [],
    "resourceSpecificApplicationPermissions": [],
}
SP_READ_ONLY = {"id", "appId", "appDisplayName", "appOwnerOrganizationId",
                "deletedDateTime", "servicePrincipalType", "signInAudience", "applicationTemplateId",
                "disabledByMicrosoftStatus", "verifiedPublisher", "passwordCredentials",
                "resourceSpecificApplicationPermissions", "appDescription"}
SP_WRITABLE = (set(SP_DEFAULTS) | {"displayName", "customSecurityAttributes", "isDisabled"}) \
    - SP_READ_ONLY
SP_FILTERABLE = ["id", "appId", "displayName", "servicePrincipalType", "servicePrincipalNames",
                 "tags", "accountEnabled", "appOwnerOrganizationId", "alternativeNames"]
ASSIGNMENT_FILTERABLE = ["id", "principalId", "resourceId", "appRoleId", "principalType"]
ASSIGNMENT_FIELDS = {"id", "appRoleId", "createdDateTime", "deletedDateTime", "principalDisplayName",
                     "principalId", "principalType", "resourceDisplayName", "resourceId"}
GRANT_FIELDS = ["id", "clientId", "consentType", "principalId", "resourceId", "scope"]


# --- service principal lookups --------------------------------------------------------------
def find_sp(ctx: Ctx, ref: Ref) -> dict | None:
    sps = ctx.graph["servicePrincipals"]
    if isinstance(ref, Key):
        if ref.name.lower() != "appid":
            raise bad_request(f"'{ref.name}' is not an alternate key of servicePrincipals.")
        return ctx.world.service_principal_by_app_id(ref.value)
    return sps.get(ref) or sps.get(ref.lower())


def resolve_sp(ctx: Ctx, ref: Ref) -> dict:
    sp = find_sp(ctx, ref)
    if sp is None or not visible(ctx.world, sp["id"]):
        raise not_found(str(ref))
    return sp


def sp_view(ctx: Ctx, sp: dict) -> dict:
    view = {**copy.deepcopy(SP_DEFAULTS), **sp}
    if view["signInAudience"] is None and view["servicePrincipalType"] == "Application":
        app = ctx.world.application_by_app_id(sp["appId"])
        view["signInAudience"] = (app or {}).get("signInAudience") or "AzureADMyOrg"
    return view


def _owned_ids(ctx: Ctx, sp: dict) -> tuple[str, ...]:
    app = ctx.world.application_by_app_id(sp["appId"])
    return (sp["id"],) + ((app["id"],) if app else ())


# --- service principal writes ---------------------------------------------------------------
def _check_sp_body(body: dict) -> dict:
    out = {}
    for key, value in body.items():
        if key.startswith("@odata") or key in SP_READ_ONLY:
            continue
        if key not in SP_WRITABLE:
            raise unknown_property(key, "servicePrincipal")
        out[key] = value
    if "displayName" in out and (not isinstance(out["displayName"], str) or not out["displayName"]):
        raise invalid_value("displayName", "ServicePrincipal")
    return out


def _no_backing_app(app_id: str):
    # NOTE: Graph's text for an appId without an application this replica can see (FACTS.md).
    return bad_request(f"The appId '{app_id}' of the service principal does not reference a valid "
                       "application object.")


def create_sp(ctx: Ctx, body: dict, app_id: str | None) -> dict:
    changes = _check_sp_body(body)
    if not app_id or not isinstance(app_id, str):
        raise invalid_value("appId", "ServicePrincipal")
    app = ctx.world.application_by_app_id(app_id)
    if app is None or not visible(ctx.world, app["appId"]):
        raise _no_backing_app(app_id)
    if not ctx.roles & APP_WRITE and not ctx.owns(app["id"]):
        raise denied()
    if ctx.world.service_principal_by_app_id(app_id) is not None:
        # NOTE: Graph's 409 for a second service principal of one app (terraform-provider-azuread).
        raise graph_error(409, "Request_MultipleObjectsWithSameKeyValue",
                          "The service principal cannot be created, updated, or restored because "
                          f"the service principal name {app['appId']} is already in use.")
    view = {**copy.deepcopy(APP_DEFAULTS), **app}
    sp = copy.deepcopy(SP_DEFAULTS)
    sp.update({
        "id": str(uuid.uuid4()), "appId": app["appId"], "displayName": view["displayName"],
        "appDisplayName": view["displayName"], "appDescription": view["description"],
        "appOwnerOrganizationId": ctx.world.tenant_id,
        "signInAudience": view["signInAudience"],
        "servicePrincipalNames": [app["appId"], *view["identifierUris"]],
        # The service principal carries the app's roles and delegated scopes.
        "appRoles": copy.deepcopy(view["appRoles"]),
        "oauth2PermissionScopes": copy.deepcopy(view["api"].get("oauth2PermissionScopes") or []),
        "info": copy.deepcopy(view["info"]),
    })
    sp.update(copy.deepcopy(changes))
    ctx.graph["servicePrincipals"][sp["id"]] = sp
    if not ctx.roles & APP_WRITE:
        ctx.graph["owners"].setdefault(sp["id"], []).append(ctx.caller.oid)
    ctx.world.mark_new(sp["id"])
    return sp


async def list_sps(ctx: Ctx) -> web.Response:
    require_any(ctx, APP_READ)
    sps = [sp_view(ctx, s) for s in ctx.graph["servicePrincipals"].values()
           if ctx.can_read_all() or ctx.owns(*_owned_ids(ctx, s))]
    return collection_response(ctx, "servicePrincipals", sps, filterable=SP_FILTERABLE,
                               type_name="microsoft.graph.servicePrincipal",
                               known=set(SP_DEFAULTS) | {"id", "appId"})


async def create_sp_route(ctx: Ctx) -> web.Response:
    require_any(ctx, APP_WRITE)
    body = await ctx.body()
    sp = create_sp(ctx, body, body.get("appId"))
    return entity_response(ctx, "servicePrincipals", sp_view(ctx, sp), 201)


async def get_sp(ctx: Ctx, ref: Ref) -> web.Response:
    require_any(ctx, APP_READ)
    sp = resolve_sp(ctx, ref)
    ctx.require_read(owned=_owned_ids(ctx, sp))
    return entity_response(ctx, "servicePrincipals", sp_view(ctx, sp),
                           type_name="microsoft.graph.servicePrincipal")


async def patch_sp(ctx: Ctx, ref: Ref) -> web.Response:
    require_any(ctx, APP_WRITE)
    body = await ctx.body()
    if isinstance(ref, Key) and ctx.prefer_create():
        # Graph's key index is consistent: an upsert never duplicates a lagging SP.
        sp = find_sp(ctx, ref)
        if sp is None:
            sp = create_sp(ctx, body, ref.value)
            return entity_response(ctx, "servicePrincipals", sp_view(ctx, sp), 201)
    else:
        sp = resolve_sp(ctx, ref)
    ctx.require(APP_WRITE, owned=_owned_ids(ctx, sp))
    sp.update(copy.deepcopy(_check_sp_body(body)))
    return no_content()


async def delete_sp(ctx: Ctx, ref: Ref) -> web.Response:
    require_any(ctx, APP_WRITE)
    sp = resolve_sp(ctx, ref)
    ctx.require(APP_WRITE, owned=_owned_ids(ctx, sp))
    delete_service_principal(ctx, sp["id"])
    return no_content()


# --- appRoleAssignments -------------------------------------------------------------------------
def _require_assignment_write(ctx: Ctx) -> None:
    # NOTE: AppRoleAssignment.ReadWrite.All alone is refused; Graph also needs a read permission
    # such as Application.Read.All (docs-contrib issue #3476, FACTS.md).
    if not (ctx.roles & ASSIGNMENT_WRITE and ctx.roles & APP_READ):
        raise denied()


def _referenced_sp(ctx: Ctx, oid) -> dict:
    """A service principal named in a request body: unknown or not yet replicated → 400."""
    sp = ctx.graph["servicePrincipals"].get(str(oid).lower()) if is_guid(oid) else None
    if sp is None or not visible(ctx.world, sp["id"]):
        raise not_a_valid_reference()
    return sp


def create_assignment(ctx: Ctx, body: dict, *, path_sp: dict, side: str) -> dict:
    """``side`` is "resource" for appRoleAssignedTo, "principal" for appRoleAssignments."""
    principal_id, resource_id = body.get("principalId"), body.get("resourceId")
    role_id = body.get("appRoleId") or DEFAULT_ACCESS_ROLE
    if not is_guid(principal_id):
        raise invalid_value("principalId", "AppRoleAssignment")
    if not is_guid(resource_id):
        raise invalid_value("resourceId", "AppRoleAssignment")
    if not is_guid(role_id):
        raise invalid_value("appRoleId", "AppRoleAssignment")
    path_field = "resourceId" if side == "resource" else "principalId"
    if str(body.get(path_field)).lower() != path_sp["id"].lower():
        raise not_a_valid_reference()   # *unconfirmed* for a body that names another object
    principal = _referenced_sp(ctx, principal_id)
    resource = _referenced_sp(ctx, resource_id)
    # The stored appRoleId is the role's own id string (tokens match roles on it exactly).
    role_ids = {r["id"].lower(): r["id"] for r in resource.get("appRoles") or []}
    if role_id.lower() != DEFAULT_ACCESS_ROLE and role_id.lower() not in role_ids:
        # NOTE: Graph's text for an appRoleId the resource does not define; what it quotes
        # after "application" is *unconfirmed* (the resource's appId here).
        raise bad_request("Permission being assigned was not found on application "
                          f"'{resource['appId']}'.")
    for a in ctx.graph["appRoleAssignments"].values():
        if (a["principalId"].lower(), a["resourceId"].lower(), a["appRoleId"].lower()) == \
                (principal["id"].lower(), resource["id"].lower(), role_id.lower()):
            # NOTE: FACTS.md, "Admin consent".
            raise bad_request("Permission being assigned already exists on the object.")
    assignment = {
        "id": b64_id(principal["id"], random_tail=True), "deletedDateTime": None,
        "appRoleId": role_ids.get(role_id.lower(), DEFAULT_ACCESS_ROLE), "createdDateTime": now(),
        "principalDisplayName": principal.get("displayName"), "principalId": principal["id"],
        "principalType": "ServicePrincipal", "resourceDisplayName": resource.get("displayName"),
        "resourceId": resource["id"],
    }
    ctx.graph["appRoleAssignments"][assignment["id"]] = assignment
    ctx.world.mark_new(assignment["id"])
    return assignment


def _assignments_of(ctx: Ctx, sp: dict, side: str) -> list[dict]:
    field = "resourceId" if side == "resource" else "principalId"
    return [dict(a) for a in ctx.graph["appRoleAssignments"].values()
            if a[field].lower() == sp["id"].lower()]


def _assignment_set(sp: dict, side: str) -> str:
    nav = "appRoleAssignedTo" if side == "resource" else "appRoleAssignments"
    return f"servicePrincipals('{sp['id']}')/{nav}"


def _find_assignment(ctx: Ctx, sp: dict, side: str, assignment_id: str) -> dict:
    a = ctx.graph["appRoleAssignments"].get(str(assignment_id))
    field = "resourceId" if side == "resource" else "principalId"
    if a is None or a[field].lower() != sp["id"].lower() or not visible(ctx.world, a["id"]):
        raise not_found(str(assignment_id))
    return a


async def list_assignments(ctx: Ctx, ref: Ref, side: str) -> web.Response:
    require_any(ctx, APP_READ)
    sp = resolve_sp(ctx, ref)
    ctx.require_read(owned=_owned_ids(ctx, sp))
    return collection_response(ctx, _assignment_set(sp, side), _assignments_of(ctx, sp, side),
                               filterable=ASSIGNMENT_FILTERABLE,
                               type_name="microsoft.graph.appRoleAssignment", known=ASSIGNMENT_FIELDS)


async def create_assignment_route(ctx: Ctx, ref: Ref, side: str) -> web.Response:
    _require_assignment_write(ctx)
    sp = resolve_sp(ctx, ref)
    assignment = create_assignment(ctx, await ctx.body(), path_sp=sp, side=side)
    return entity_response(ctx, _assignment_set(sp, side), dict(assignment), 201)


async def get_assignment(ctx: Ctx, ref: Ref, assignment_id: str, side: str) -> web.Response:
    require_any(ctx, APP_READ)
    sp = resolve_sp(ctx, ref)
    ctx.require_read(owned=_owned_ids(ctx, sp))
    return entity_response(ctx, _assignment_set(sp, side),
                           dict(_find_assignment(ctx, sp, side, assignment_id)),
                           type_name="microsoft.graph.appRoleAssignment")


async def delete_assignment(ctx: Ctx, ref: Ref, assignment_id: str, side: str) -> web.Response:
    _require_assignment_write(ctx)
    sp = resolve_sp(ctx, ref)
    a = _find_assignment(ctx, sp, side, assignment_id)
    del ctx.graph["appRoleAssignments"][a["id"]]
    return no_content()


# --- oauth2PermissionGrants ----------------------------------------------------------------------
def _grant_reference(ctx: Ctx, oid) -> dict:
    """clientId / resourceId of a grant: unknown or not yet replicated → Graph's 400 (FACTS.md)."""
    sp = ctx.graph["servicePrincipals"].get(str(oid).lower()) if is_guid(oid) else None
    if sp is None or not visible(ctx.world, sp["id"]):
        raise bad_request(f"Resource '{oid}' does not exist or one of its queried reference-property "
                          "objects are not present.")
    return sp


def _check_scope(scope) -> str:
    if scope is None:
        return ""
    if not isinstance(scope, str):
        raise invalid_value("scope", "OAuth2PermissionGrant")
    return scope


async def create_grant(ctx: Ctx) -> web.Response:
    ctx.require(GRANT_WRITE)
    body = await ctx.body()
    for key in body:
        if not key.startswith("@odata") and key not in GRANT_FIELDS + ["startTime", "expiryTime"]:
            raise unknown_property(key, "oAuth2PermissionGrant")
    consent = body.get("consentType")
    if consent not in CONSENT_TYPES:
        raise invalid_value("consentType", "OAuth2PermissionGrant")
    principal_id = body.get("principalId")
    if (consent == "Principal") != bool(principal_id):
        raise invalid_value("principalId", "OAuth2PermissionGrant")
    client = _grant_reference(ctx, body.get("clientId"))
    resource = _grant_reference(ctx, body.get("resourceId"))
    if consent == "Principal":
        # Users are not emulated: any directory object the replica sees may be the principal.
        principal = _grant_reference(ctx, principal_id)
        grant_id = b64_id(client["id"], resource["id"], principal["id"])
    else:
        grant_id = b64_id(client["id"], resource["id"])
    if grant_id in ctx.graph["oauth2PermissionGrants"]:
        # NOTE: Graph's 409 for a second grant of one client, resource and principal
        # (terraform-provider-azuread#690).
        raise graph_error(409, "Request_MultipleObjectsWithSameKeyValue", "Permission entry already exists.")
    grant = {"id": grant_id, "clientId": client["id"], "consentType": consent,
             "principalId": principal_id.lower() if principal_id else None,
             "resourceId": resource["id"], "scope": _check_scope(body.get("scope"))}
    ctx.graph["oauth2PermissionGrants"][grant_id] = grant
    return entity_response(ctx, "oauth2PermissionGrants", dict(grant), 201)


def _find_grant(ctx: Ctx, grant_id: str) -> dict:
    grant = ctx.graph["oauth2PermissionGrants"].get(grant_id)
    if grant is None:
        raise not_found(grant_id)
    return grant


async def list_grants(ctx: Ctx) -> web.Response:
    ctx.require(GRANT_READ)
    grants = [dict(g) for g in ctx.graph["oauth2PermissionGrants"].values()]
    return collection_response(ctx, "oauth2PermissionGrants", grants,
                               filterable=["id", "clientId", "resourceId", "consentType", "principalId"],
                               type_name="microsoft.graph.oAuth2PermissionGrant", known=set(GRANT_FIELDS))


async def get_grant(ctx: Ctx, grant_id: str) -> web.Response:
    ctx.require(GRANT_READ)
    return entity_response(ctx, "oauth2PermissionGrants", dict(_find_grant(ctx, grant_id)),
                           type_name="microsoft.graph.oAuth2PermissionGrant")


async def patch_grant(ctx: Ctx, grant_id: str) -> web.Response:
    ctx.require(GRANT_WRITE)
    grant = _find_grant(ctx, grant_id)
    body = await ctx.body()
    for key in body:
        if key.startswith("@odata") or key == "scope":
            continue
        if key in GRANT_FIELDS:
            if body[key] == grant.get(key):
                continue
            # NOTE: only scope is updatable (oauth2permissiongrant-update); this text is *unconfirmed*.
            raise bad_request(f"Property '{key}' is read-only and cannot be updated.")
        raise unknown_property(key, "oAuth2PermissionGrant")
    if "scope" in body:
        grant["scope"] = _check_scope(body["scope"])
    return no_content()


async def delete_grant(ctx: Ctx, grant_id: str) -> web.Response:
    ctx.require(GRANT_WRITE)
    grant = _find_grant(ctx, grant_id)
    del ctx.graph["oauth2PermissionGrants"][grant["id"]]
    return no_content()

