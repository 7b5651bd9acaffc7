"""What an access token of this emulator says and who it is for: the resources a token may be asked
for (Graph, ARM, the token-exchange audience, an app of the tenant), the audiences Graph and ARM
accept, the ``roles`` claim (app roles assigned to the caller on the resource), and signing.

Tokens are real RS256 JWTs: tid, oid, sub, appid, azp, aud, roles, iss = ``{authority}/{tenant}/v2.0``
(Entra ID: "Configure an application to trust a managed identity": the federated credential for a
managed identity names this issuer), iat/nbf/exp, ver "2.0". Entra omits ``roles`` when empty.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass

from aiohttp import web

from ..errors import ApiError, aad_error
from ..http import world_of
from ..state import GRAPH_APP_ID, World
from .keys import SIGNING_KEY

TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
PUBLIC_GRAPH = ("https://graph.microsoft.com", GRAPH_APP_ID)
PUBLIC_ARM = ("https://management.azure.com", "https://management.core.windows.net")
NOT_INSTALLED = ("This can happen if the application has not been installed by the administrator of "
                 "the tenant or consented to by any user in the tenant.")


def normalize(value: str) -> str:
    return (value or "").strip().rstrip("/").lower()


def api_audiences(world: World, api: str) -> set[str]:
    """Normalised audiences (no trailing slash, lower case) that Graph or ARM accept."""
    if api == "graph":
        return {normalize(world.graph_url), *(normalize(a) for a in PUBLIC_GRAPH)}
    return {normalize(world.arm_url), *(normalize(a) for a in PUBLIC_ARM)}


@dataclass(frozen=True)
class Resource:
    kind: str                 # graph | arm | exchange | app
    audience: str             # the aud claim: the resource as the client named it
    service_principal: dict | None


def resolve_resource(world: World, resource: str) -> Resource | None:
    """What a token is asked for: Graph, ARM, the token-exchange audience, or an app of the tenant."""
    norm = normalize(resource)
    if norm in api_audiences(world, "graph"):
        return Resource("graph", resource, world.service_principal_by_app_id(GRAPH_APP_ID))
    if norm in api_audiences(world, "arm"):
        return Resource("arm", resource, None)
    if resource == TOKEN_EXCHANGE_AUDIENCE:
        return Resource("exchange", resource, None)
    sp = world.service_principal_by_app_id(resource)
    if sp is None:
        for app in world.graph["applications"].values():
            if any(normalize(uri) == norm for uri in app.get("identifierUris") or []):
                sp = world.service_principal_by_app_id(app["appId"])
                break
    if sp is not None and sp.get("servicePrincipalType") != "ManagedIdentity":
        return Resource("app", resource, sp)
    return None


def roles_on(world: World, principal_id: str, resource_sp: dict | None) -> list[str]:
    """Values of the app roles assigned to ``principal_id`` on ``resource_sp`` (admin consent)."""
    if resource_sp is None:
        return []
    by_id = {r["id"]: r.get("value") for r in resource_sp.get("appRoles") or []}
    values = set()
    for a in world.graph["appRoleAssignments"].values():
        if a.get("principalId") == principal_id and a.get("resourceId") == resource_sp["id"]:
            value = by_id.get(a.get("appRoleId"))
            if value:
                values.add(value)
    return sorted(values)


def issue_token(request: web.Request, *, oid: str, app_id: str, resource: Resource, ttl: int,
                acr: str, extra: dict | None = None) -> tuple[str, int, int]:
    """Sign an app-only access token; returns (token, iat, exp)."""
    world = world_of(request)
    now = int(time.time())
    claims = {
        "aud": resource.audience, "iss": world.issuer, "iat": now, "nbf": now, "exp": now + ttl,
        "aio": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
        "appid": app_id, "appidacr": acr, "azp": app_id, "azpacr": acr,
        "idp": world.issuer, "idtyp": "app", "oid": oid, "sub": oid, "tid": world.tenant_id,
        "uti": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="), "ver": "2.0",
    }
    roles = roles_on(world, oid, resource.service_principal)
    if roles:
        claims["roles"] = roles
    claims.update(extra or {})
    return request.app[SIGNING_KEY].sign(claims), now, now + ttl



def resource_not_found(world: World, resource: str) -> ApiError:
    return aad_error(400, "invalid_resource", 500011,
                     f"The resource principal named {resource} was not found in the tenant named "
                     f"{world.tenant_id}. {NOT_INSTALLED} You might have sent your authentication "
                     "request to the wrong tenant.")


