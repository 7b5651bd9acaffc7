"""The emulator's Entra ID side: OIDC discovery, JWKS, cloud metadata, the v2.0 token endpoint, the
managed identity (IMDS-style) endpoint, and ``authenticate`` — how Graph and ARM handlers learn who
is calling.

Routes (authority = the emulator's base URL, exactly as ``https://login.microsoftonline.com``):
  GET  /{tenant}/v2.0/.well-known/openid-configuration   discovery (tenant id, or common/organizations)
  GET  /{tenant}/discovery/v2.0/keys                     JWKS (one RSA key, generated per start)
  POST /{tenant}/oauth2/v2.0/token                       client_credentials with client_secret or
                                                         client_assertion (a token this emulator signed)
  GET  /imds{RESOURCE_ID}/metadata/identity/oauth2/token managed identity, acting as RESOURCE_ID (a VM,
                                                         scale set or container group of world.arm)
  GET  /arm/metadata/endpoints                           ARM's cloud metadata (login endpoint, audiences,
                                                         Graph resource id), no token: what
                                                         ``az cloud register`` reads

Tokens are real RS256 JWTs: tid, oid, sub, appid, azp, aud, roles, iss = ``{authority}/{tenant}/v2.0``
(FACTS.md: the federated credential for a managed identity is built from this issuer), iat/nbf/exp,
ver "2.0". ``roles`` are the values of the app roles assigned (graph.appRoleAssignments) to the
caller's service principal on the resource's service principal; Entra omits the claim when empty.

Not emulated: delegated (user) flows, certificates as client credentials, refresh tokens, v1.0
endpoints, CAE claims challenges (a ``claims`` form field is accepted and ignored), token revocation.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import unquote

import jwt
from aiohttp import web

from .errors import ApiError, aad_error, arm_error, graph_error
from .http import json_response, world_of
from .state import GRAPH_APP_ID, World

ACCESS_TOKEN_TTL = 3599            # Entra's usual client-credentials lifetime (seconds)
MI_TOKEN_TTL = 86399               # IMDS hands out ~24 h tokens
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PUBLIC_GRAPH = ("https://graph.microsoft.com", GRAPH_APP_ID)
PUBLIC_ARM = ("https://management.azure.com", "https://management.core.windows.net")
# NOTE: ARM's own list of allowed audiences, quoted in its InvalidAuthenticationTokenAudience error.
ARM_ALLOWED_TEXT = ("'https://management.core.windows.net/','https://management.core.windows.net',"
                    "'https://management.azure.com/','https://management.azure.com'")
FIC_DOC = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
NOT_INSTALLED = ("This can happen if the application has not been installed by the administrator of "
                 "the tenant or consented to by any user in the tenant.")


@dataclass(frozen=True)
class Caller:
    oid: str            # object id of the calling service principal (or managed identity principal)
    app_id: str         # client id
    tenant_id: str
    roles: frozenset[str]   # app role values in the token (Graph permissions for Graph tokens)
    audience: str
    claims: dict


class SigningKey:
    """The RSA key that signs every token of this run (never persisted: tokens die with the process)."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public = self.private.public_key()
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.public, as_dict=True)
        self.kid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self.jwk = {"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
                    "n": jwk["n"], "e": jwk["e"]}

    def sign(self, claims: dict) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256",
                          headers={"typ": "JWT", "kid": self.kid})

    def verify(self, token: str) -> dict:
        """Signature and lifetime; raises jwt.InvalidTokenError (ExpiredSignatureError if expired)."""
        return jwt.decode(token, self.public, algorithms=["RS256"],
                          options={"verify_aud": False, "require": ["exp", "iss"]}, leeway=30)


SIGNING_KEY = web.AppKey("signing_key", SigningKey)


def _world(request: web.Request) -> World:
    return world_of(request)


def _now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


# --- audiences / resources ------------------------------------------------------------------

def _norm(value: str) -> str:
    return (value or "").strip().rstrip("/").lower()


def api_audiences(world: World, api: str) -> set[str]:
    """Normalised audiences (no trailing slash, lower case) that Graph or ARM accept."""
    if api == "graph":
        return {_norm(world.graph_url), *(_norm(a) for a in PUBLIC_GRAPH)}
    return {_norm(world.arm_url), *(_norm(a) for a in PUBLIC_ARM)}


@dataclass(frozen=True)
class Resource:
    kind: str                 # graph | arm | exchange | app
    audience: str             # the aud claim: the resource as the client named it
    service_principal: dict | None


def resolve_resource(world: World, resource: str) -> Resource | None:
    """What a token is asked for: Graph, ARM, the token-exchange audience, or an app of the tenant."""
    norm = _norm(resource)
    if norm in api_audiences(world, "graph"):
        return Resource("graph", resource, world.service_principal_by_app_id(GRAPH_APP_ID))
    if norm in api_audiences(world, "arm"):
        return Resource("arm", resource, None)
    if resource == TOKEN_EXCHANGE_AUDIENCE:
        return Resource("exchange", resource, None)
    sp = world.service_principal_by_app_id(resource)
    if sp is None:
        for app in world.graph["applications"].values():
            if any(_norm(uri) == norm for uri in app.get("identifierUris") or []):
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
    world = _world(request)
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


# --- authenticate (the contract Graph and ARM handlers use) ------------------------------------

def _unauthorized(api: str, world: World, code: str, message: str) -> ApiError:
    if api == "arm":
        challenge = (f'Bearer authorization_uri="{world.authority}/{world.tenant_id}", '
                     f'error="invalid_token", error_description="{message}"')
        return arm_error(401, code, message, headers={"WWW-Authenticate": challenge})
    challenge = (f'Bearer realm="", authorization_uri="{world.authority}/common/oauth2/authorize", '
                 f'client_id="{GRAPH_APP_ID}"')
    return graph_error(401, "InvalidAuthenticationToken", message,
                       headers={"WWW-Authenticate": challenge})


def authenticate(request: web.Request, api: str) -> Caller:
    """The caller of a Graph (``api="graph"``) or ARM (``api="arm"``) request, from its Bearer token.

    Raises ``ApiError`` 401 in that API's shape: Graph ``InvalidAuthenticationToken``; ARM
    ``AuthenticationFailed`` / ``InvalidAuthenticationToken`` / ``ExpiredAuthenticationToken`` /
    ``InvalidAuthenticationTokenAudience``.
    """
    world = _world(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if not header or scheme.lower() != "bearer" or not token.strip():
        if api == "arm":
            raise _unauthorized(api, world, "AuthenticationFailed",
                                "Authentication failed. The 'Authorization' header is missing.")
        raise _unauthorized(api, world, "InvalidAuthenticationToken", "Access token is empty.")
    try:
        claims = request.app[SIGNING_KEY].verify(token.strip())
    except jwt.ExpiredSignatureError:
        exp = jwt.decode(token.strip(), options={"verify_signature": False}).get("exp", 0)
        if api == "arm":
            fmt = "%m/%d/%Y %H:%M:%S"
            raise _unauthorized(api, world, "ExpiredAuthenticationToken",
                                "The access token expiry UTC time "
                                f"'{datetime.fromtimestamp(exp, timezone.utc).strftime(fmt)}' is earlier "
                                f"than current UTC time '{datetime.now(timezone.utc).strftime(fmt)}'.")
        raise _unauthorized(api, world, "InvalidAuthenticationToken",
                            "Lifetime validation failed, the token is expired.")
    except jwt.InvalidTokenError:
        if api == "arm":
            raise _unauthorized(api, world, "InvalidAuthenticationToken", "The access token is invalid.")
        raise _unauthorized(api, world, "InvalidAuthenticationToken", "Access token validation failure.")
    aud = claims.get("aud", "")
    if claims.get("tid") != world.tenant_id or _norm(aud) not in api_audiences(world, api):
        if api == "arm":
            raise _unauthorized(api, world, "InvalidAuthenticationTokenAudience",
                                "The access token has been obtained for wrong audience or resource "
                                f"'{aud}'. It should exactly match with one of the allowed audiences "
                                f"{ARM_ALLOWED_TEXT}.")
        raise _unauthorized(api, world, "InvalidAuthenticationToken",
                            "Access token validation failure. Invalid audience.")
    return Caller(oid=claims.get("oid", ""), app_id=claims.get("appid", ""),
                  tenant_id=claims["tid"], roles=frozenset(claims.get("roles") or ()),
                  audience=aud, claims=claims)


# --- OIDC discovery and JWKS ------------------------------------------------------------------

DISCOVERY_ALIASES = ("common", "organizations")


def _check_tenant(world: World, tenant: str, *, allow_aliases: bool = False) -> None:
    if tenant.lower() == world.tenant_id.lower():
        return
    if allow_aliases and tenant.lower() in DISCOVERY_ALIASES:
        return
    raise aad_error(400, "invalid_tenant", 90002,
                    f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                    "and are signing into the correct cloud. Check with your subscription "
                    "administrator, this may happen if there are no active subscriptions for the tenant.")


async def openid_configuration(request: web.Request) -> web.Response:
    world = _world(request)
    tenant = request.match_info["tenant"]
    _check_tenant(world, tenant, allow_aliases=True)
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


async def jwks(request: web.Request) -> web.Response:
    world = _world(request)
    _check_tenant(world, request.match_info["tenant"], allow_aliases=True)
    key = dict(request.app[SIGNING_KEY].jwk, issuer=world.issuer)
    return json_response({"keys": [key]})


async def cloud_metadata(request: web.Request) -> web.Response:
    """``GET {arm}/metadata/endpoints``: ARM's cloud metadata, which ``az cloud register
    --endpoint-resource-manager`` (and go-azure-sdk) read to learn a cloud's other endpoints. One
    object, as ARM answers ``api-version=2022-09-01`` (``2019-05-01`` answers a list of every cloud;
    the emulator is one cloud, so it answers the object for any version). No token needed. The
    Azure CLI appends ``/metadata/endpoints`` to the endpoint as given, so ``{arm}//metadata/…``
    (endpoint with a trailing slash) is accepted too, as ARM does."""
    world = _world(request)
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


# --- the token endpoint -----------------------------------------------------------------------

def _missing(param: str) -> ApiError:
    return aad_error(400, "invalid_request", 900144,
                     f"The request body must contain the following parameter: '{param}'.")


def _resource_of_scope(scope: str) -> str:
    """The resource named by a client-credentials scope; only ``{resource}/.default`` is valid."""
    parts = [s for s in scope.split() if s not in ("openid", "profile", "offline_access", "email")]
    if len(parts) != 1 or not parts[0].endswith("/.default"):
        raise aad_error(400, "invalid_scope", 1002012,
                        f"The provided value for scope {scope} is not valid. Client credential flows "
                        "must have a scope value with /.default suffixed to the resource identifier "
                        "(application ID URI).")
    return parts[0][: -len("/.default")]


def _resource_not_found(world: World, resource: str) -> ApiError:
    return aad_error(400, "invalid_resource", 500011,
                     f"The resource principal named {resource} was not found in the tenant named "
                     f"{world.tenant_id}. {NOT_INSTALLED} You might have sent your authentication "
                     "request to the wrong tenant.")


def _client_app(world: World, client_id: str) -> dict:
    app = world.application_by_app_id(client_id)
    if app is None:
        raise aad_error(400, "unauthorized_client", 700016,
                        f"Application with identifier '{client_id}' was not found in the directory "
                        f"'{world.tenant_id}'. {NOT_INSTALLED} You may have sent your authentication "
                        "request to the wrong tenant.")
    return app


def _client_sp(world: World, client_id: str) -> dict:
    sp = world.service_principal_by_app_id(client_id)
    if sp is None:
        raise aad_error(400, "invalid_client", 7000229,
                        f"The client application {client_id} is missing service principal in the "
                        f"tenant {world.tenant_id}. See instructions here: "
                        "https://go.microsoft.com/fwlink/?linkid=2225119")
    if sp.get("accountEnabled") is False:
        raise aad_error(400, "unauthorized_client", 7000112,
                        f"Application '{client_id}'({sp.get('displayName', '')}) is disabled.")
    return sp


def _secret_matches(world: World, client_id: str, secret: str) -> bool:
    import hmac

    known = world.data.get("secrets", {}).get(client_id)
    if known is None:
        known = next((v for k, v in world.data.get("secrets", {}).items()
                      if k.lower() == client_id.lower()), None)
    candidates = known if isinstance(known, list) else [known] if known else []
    return any(hmac.compare_digest(str(c).encode(), secret.encode()) for c in candidates)


def _basic_auth(request: web.Request) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return unquote(user), unquote(password)


def _no_fic_match(code: int, message: str) -> ApiError:
    # NOTE: Entra answers FIC mismatches as 401 invalid_client (azure-workload-identity#1200,
    # microsoft/Agents#202 show the bodies).
    return aad_error(401, "invalid_client", code, message)


def _match_federated_credential(world: World, app: dict, claims: dict) -> dict:
    """The app's FIC matching the assertion: issuer, subject, audiences[0], case-sensitive (FACTS.md)."""
    iss, sub, aud = claims.get("iss", ""), claims.get("sub", ""), claims.get("aud", "")
    if isinstance(aud, list):
        aud = aud[0] if aud else ""
    fics = world.graph["federatedIdentityCredentials"].get(app["id"], [])
    by_issuer = [f for f in fics if f.get("issuer") == iss]
    if not by_issuer:
        raise _no_fic_match(700211, f"No matching federated identity record found for presented "
                                    f"assertion issuer '{iss}'. Please check your federated identity "
                                    "credential Subject, Audience and Issuer against the presented "
                                    f"assertion. {FIC_DOC}")
    by_subject = [f for f in by_issuer if f.get("subject") == sub]
    if not by_subject:
        if any((f.get("subject") or "").lower() == sub.lower() for f in by_issuer):
            raise _no_fic_match(7002138, f"No matching federated identity record found for presented "
                                         f"assertion subject '{sub}'. The subject matches with "
                                         "case-insensitive comparison, but not with case-sensitive "
                                         "comparison. Check your federated identity credential Subject, "
                                         "Audience and Issuer against the presented assertion. See "
                                         f"documentation at: {FIC_DOC}.")
        raise _no_fic_match(700213, f"No matching federated identity record found for presented "
                                    f"assertion subject '{sub}'. Check your federated identity "
                                    "credential Subject, Audience and Issuer against the presented "
                                    f"assertion. {FIC_DOC}")
    by_audience = [f for f in by_subject if (f.get("audiences") or [None])[0] == aud]
    if not by_audience:
        raise _no_fic_match(700212, f"No matching federated identity record found for presented "
                                    f"assertion audience '{aud}'. Check your federated identity "
                                    "credential Subject, Audience and Issuer against the presented "
                                    f"assertion. {FIC_DOC}")
    fic = by_audience[0]
    if fic.get("id") and world.lagging(fic["id"]):
        # NOTE: FACTS.md — a just-created FIC answers AADSTS70021 until it has propagated.
        raise aad_error(400, "invalid_request", 70021,
                        "No matching federated identity record found for presented assertion. "
                        f"Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: "
                        f"'{aud}'. {FIC_DOC}")
    return fic


def _verify_assertion(request: web.Request, world: World, client_id: str, assertion: str) -> dict:
    """Match the assertion against the app's FICs, then check it is a live token this emulator signed."""
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise aad_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.") from None
    app = _client_app(world, client_id)
    _match_federated_credential(world, app, unverified)
    try:
        return request.app[SIGNING_KEY].verify(assertion)
    except jwt.ExpiredSignatureError:
        now = datetime.now(timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
        def at(ts):
            return datetime.fromtimestamp(ts or 0, timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
        raise aad_error(400, "invalid_client", 700024,
                        f"Client assertion is not within its valid time range. Current time: {now}, "
                        f"assertion valid from {at(unverified.get('nbf'))}, expiry time of assertion "
                        f"{at(unverified.get('exp'))}. Review the documentation at "
                        "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .") from None
    except jwt.InvalidTokenError:
        raise aad_error(401, "invalid_client", 700027,
                        "Client assertion failed signature validation.") from None


async def token_endpoint(request: web.Request) -> web.Response:
    world = _world(request)
    _check_tenant(world, request.match_info["tenant"])
    form = await request.post()
    grant_type = form.get("grant_type")
    if not grant_type:
        raise _missing("grant_type")
    if grant_type != "client_credentials":
        raise aad_error(400, "unsupported_grant_type", 70003,
                        f"The app requested an unsupported grant type '{grant_type}'. The emulator "
                        "serves client_credentials only.")
    basic_id, basic_secret = _basic_auth(request)
    client_id = form.get("client_id") or basic_id
    if not client_id:
        raise _missing("client_id")
    scope = form.get("scope")
    if not scope:
        raise _missing("scope")
    resource_name = _resource_of_scope(scope)
    secret = form.get("client_secret") or basic_secret
    assertion = form.get("client_assertion")
    if assertion:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise aad_error(400, "invalid_request", 700017,
                            "Client assertion type is not supported. Use "
                            f"'{JWT_BEARER}'.")
        _verify_assertion(request, world, client_id, assertion)
        acr = "2"
    elif secret:
        _client_app(world, client_id)
        if not _secret_matches(world, client_id, secret):
            raise aad_error(401, "invalid_client", 7000215,
                            "Invalid client secret provided. Ensure the secret being sent in the "
                            "request is the client secret value, not the client secret ID, for a "
                            f"secret added to app '{client_id}'.")
        acr = "1"
    else:
        raise aad_error(401, "invalid_client", 7000218,
                        "The request body must contain the following parameter: 'client_assertion' "
                        "or 'client_secret'.")
    sp = _client_sp(world, client_id)
    resource = resolve_resource(world, resource_name)
    if resource is None or resource.kind == "exchange":
        raise _resource_not_found(world, resource_name)
    token, _, _ = issue_token(request, oid=sp["id"], app_id=sp["appId"], resource=resource,
                              ttl=ACCESS_TOKEN_TTL, acr=acr)
    return json_response({"token_type": "Bearer", "expires_in": ACCESS_TOKEN_TTL,
                          "ext_expires_in": ACCESS_TOKEN_TTL, "access_token": token})


# --- the managed identity endpoint (IMDS style) -----------------------------------------------

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
    world = _world(request)
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
        err = _resource_not_found(world, resource_name)
        if app_service:
            return _app_service_error(err.message, 500)
        return _imds_error("invalid_resource", err.message)
    extra = {"xms_mirid": identity_rid} if identity_rid else {}
    token, iat, exp = issue_token(request, oid=principal_id, app_id=client_id, resource=resource,
                                  ttl=MI_TOKEN_TTL, acr="2", extra=extra)
    if app_service:
        return json_response({"access_token": token, "expires_on": str(exp),
                              "resource": resource_name, "token_type": "Bearer",
                              "client_id": client_id})
    return json_response({"access_token": token, "client_id": client_id,
                          "expires_in": str(exp - iat), "expires_on": str(exp),
                          "ext_expires_in": str(exp - iat), "not_before": str(iat),
                          "resource": resource_name, "token_type": "Bearer"})


def add_routes(app: web.Application) -> None:
    app[SIGNING_KEY] = SigningKey()
    r = app.router
    r.add_get("/imds/{rid:.+}/metadata/identity/oauth2/token", imds_token)
    r.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    r.add_get("/{tenant}/discovery/v2.0/keys", jwks)
    r.add_post("/{tenant}/oauth2/v2.0/token", token_endpoint)
    # Registered before arm.add_routes (app.make_app), so it wins over ARM's catch-all.
    r.add_get("/arm/{sep:/*}metadata/endpoints", cloud_metadata)
