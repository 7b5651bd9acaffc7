"""Discovery documents, which need no token: the OpenID Connect configuration of the tenant
(``GET /{tenant}/v2.0/.well-known/openid-configuration``, tenant id or ``common`` /
``organizations``) and ARM's cloud metadata (``GET /arm/metadata/endpoints``, what
``az cloud register`` reads). Also the tenant check (AADSTS90002) every Entra route makes.
"""

from __future__ import annotations

from aiohttp import web

from ..errors import aad_error
from ..http import json_response, world_of
from ..state import World

DISCOVERY_ALIASES = ("common", "organizations")


def check_tenant(world: World, tenant: str, *, allow_aliases: bool = False) -> None:
    if tenant.lower() == world.tenant_id.lower():
        return
    if allow_aliases and tenant.lower() in DISCOVERY_ALIASES:
        return
    raise aad_error(400, "invalid_tenant", 90002,
                    f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                    "and are signing into the correct cloud. Check with your subscription "
                    "administrator, this may happen if there are no active subscriptions for the tenant.")


async def openid_configuration(request: web.Request) -> web.Response:
    world = world_of(request)
    tenant = request.match_info["tenant"]
    check_tenant(world, tenant, allow_aliases=True)
    tid = world.tenant_id if tenant.lower() not in DISCOVERY_ALIASES else "{tenantid}"
    base = f"{world.authority}/{tid if tid != '{tenantid}' else tenant}"
    return json_response({
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                  "client_secret_basic"],
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{world.authority}/{tid}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{world.graph_url}/oidc/userinfo",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                             "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat",
                             "auth_time", "acr", "nonce", "preferred_username", "name", "tid",
                             "ver", "at_hash", "c_hash", "email"],
        "tenant_region_scope": "NA",
        "cloud_instance_name": request.host,
        "cloud_graph_host_name": request.host,
        "msgraph_host": request.host + "/graph",
    })



async def cloud_metadata(request: web.Request) -> web.Response:
    """``GET {arm}/metadata/endpoints``: ARM's cloud metadata, which ``az cloud register
    --endpoint-resource-manager`` (and go-azure-sdk) read to learn a cloud's other endpoints. One
    object, as ARM answers ``api-version=2022-09-01`` (``2019-05-01`` answers a list of every cloud;
    the emulator is one cloud, so it answers the object for any version). No token needed. The
    Azure CLI appends ``/metadata/endpoints`` to the endpoint as given, so ``{arm}//metadata/…``
    (endpoint with a trailing slash) is accepted too, as ARM does."""
    world = world_of(request)
    return json_response({
        # NOTE: only what the emulator serves: no portal, no Azure AD Graph (``graph`` /
        # ``graphAudience``, retired), no data-plane suffixes.
        "name": "Emulator",
        "authentication": {
            # NOTE: no trailing slash: MSAL and go-azure-sdk append "/{tenant}" to it.
            "loginEndpoint": world.authority,
            # The first audience is what the Azure CLI asks ARM tokens for (as on the public cloud).
            "audiences": ["https://management.core.windows.net/", world.arm_url + "/"],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "resourceManager": world.arm_url + "/",
        "microsoftGraphResourceId": world.graph_url + "/",
        "suffixes": {},
    })

