"""The managed identity endpoint, ``GET /imds{RESOURCE_ID}/metadata/identity/oauth2/token``: a token
for an identity attached to RESOURCE_ID (a VM, scale set or container group of ``world.arm``), in
the request and answer shapes of IMDS (2018-02-01, header ``Metadata: true``) and of App Service
(2019-08-01, header ``X-IDENTITY-HEADER``).
"""

from __future__ import annotations

import uuid

from aiohttp import web

from ..http import json_response, world_of
from ..state import World
from .claims import issue_token, resolve_resource, resource_not_found

MI_TOKEN_TTL = 86399               # IMDS hands out ~24 h tokens (the token_lifetime_s knob overrides)
COMPUTE_TYPES = ("microsoft.compute/virtualmachines", "microsoft.compute/virtualmachinescalesets",
                 "microsoft.containerinstance/containergroups")


def _imds_error(error: str, description: str, status: int = 400) -> web.Response:
    return json_response({"error": error, "error_description": description}, status)


def _app_service_error(message: str, status: int = 400) -> web.Response:
    return json_response({"statusCode": status, "message": message,
                          "correlationId": str(uuid.uuid4())}, status)


def attached_identities(resource: dict) -> tuple[str | None, dict[str, dict]]:
    """(system-assigned principal id or None, {user-assigned identity id: {principalId, clientId}})."""
    identity = resource.get("identity") or {}
    kind = (identity.get("type") or "None").replace(" ", "").lower()
    system = identity.get("principalId") if "systemassigned" in kind else None
    users = identity.get("userAssignedIdentities") or {} if "userassigned" in kind else {}
    return system, {k: v for k, v in users.items() if isinstance(v, dict)}


def _select_identity(world: World, resource: dict, query) -> tuple[str, str, str | None] | str:
    """(principal id, client id, identity resource id) — or the IMDS error description."""
    system, users = attached_identities(resource)
    client_id = query.get("client_id")
    object_id = query.get("object_id") or query.get("principal_id")
    res_id = query.get("msi_res_id") or query.get("mi_res_id")
    given = [v for v in (client_id, object_id, res_id) if v]
    if len(given) > 1:
        return "Only one of client_id, object_id and msi_res_id may be given"
    # An identity deleted while still attached stays in the resource's map (as in ARM) but has
    # no principal any more: IMDS cannot issue for it.
    users = {rid: ident for rid, ident in users.items()
             if rid.lower() in world.arm["resources"]}
    for rid, ident in users.items():
        if ((client_id and (ident.get("clientId") or "").lower() == client_id.lower())
                or (object_id and (ident.get("principalId") or "").lower() == object_id.lower())
                or (res_id and rid.lower() == res_id.lower())):
            return ident.get("principalId", ""), ident.get("clientId", ""), rid
    if given:
        return "Identity not found"
    if system:
        sp = world.graph["servicePrincipals"].get(system)
        return system, (sp or {}).get("appId", system), resource.get("id")
    if len(users) == 1:
        # NOTE: IMDS falls back to the only user-assigned identity when no system-assigned exists.
        rid, ident = next(iter(users.items()))
        return ident.get("principalId", ""), ident.get("clientId", ""), rid
    if users:
        return ("Multiple user assigned identities exist, please specify the clientId / resourceId "
                "of the identity in the token request")
    return "Identity not found"


async def imds_token(request: web.Request) -> web.Response:
    """``GET /imds{RESOURCE_ID}/metadata/identity/oauth2/token``: a token for an identity attached to
    RESOURCE_ID. IMDS (2018-02-01, header ``Metadata: true``) and App Service (2019-08-01, header
    ``X-IDENTITY-HEADER``) request and answer shapes; refusals as IMDS answers them (400)."""
    world = world_of(request)
    query = request.query
    app_service = query.get("api-version") == "2019-08-01"
    fail = _app_service_error if app_service else (lambda msg: _imds_error("invalid_request", msg))
    if app_service:
        if not request.headers.get("X-IDENTITY-HEADER"):
            return _app_service_error("The X-IDENTITY-HEADER header is missing.", 401)
    elif request.headers.get("Metadata", "").lower() != "true":
        return _imds_error("invalid_request", "Required metadata header not specified")
    if not query.get("api-version"):
        return fail("Required query variable 'api-version' is missing")
    resource_name = query.get("resource")
    if not resource_name:
        return fail("Required query variable 'resource' is missing")
    if resource_name.endswith("/.default"):
        resource_name = resource_name[: -len("/.default")]
    rid = "/" + request.match_info["rid"].strip("/")
    target = world.arm["resources"].get(rid.lower())
    if target is None or (target.get("type") or "").lower() not in COMPUTE_TYPES:
        return fail(f"Identity not found. The emulator has no virtual machine, scale set or container "
                    f"group '{rid}' to act as: the path prefix after /imds must be its resource id.")
    selected = _select_identity(world, target, query)
    if isinstance(selected, str):
        return fail(selected)
    principal_id, client_id, identity_rid = selected
    resource = resolve_resource(world, resource_name)
    if resource is None:
        err = resource_not_found(world, resource_name)
        if app_service:
            return _app_service_error(err.message, 500)
        return _imds_error("invalid_resource", err.message)
    extra = {"xms_mirid": identity_rid} if identity_rid else {}
    token, iat, exp = issue_token(request, oid=principal_id, app_id=client_id, resource=resource,
                                  ttl=world.faults.token_ttl(MI_TOKEN_TTL), acr="2", extra=extra)
    if app_service:
        return json_response({"access_token": token, "expires_on": str(exp),
                              "resource": resource_name, "token_type": "Bearer",
                              "client_id": client_id})
    return json_response({"access_token": token, "client_id": client_id,
                          "expires_in": str(exp - iat), "expires_on": str(exp),
                          "ext_expires_in": str(exp - iat), "not_before": str(iat),
                          "resource": resource_name, "token_type": "Bearer"})

