"""The v2.0 token endpoint, ``POST /{tenant}/oauth2/v2.0/token``: the client_credentials grant
with a client secret (form or HTTP Basic) or a client assertion (a live token this emulator signed,
matching one of the app's federated identity credentials: ``federation``). Refusals are Entra's
AADSTS errors.

Not emulated: delegated (user) flows, certificates as client credentials, refresh tokens, v1.0
endpoints, CAE claims challenges (a ``claims`` form field is accepted and ignored), token revocation.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from urllib.parse import unquote

import jwt
from aiohttp import web

from ..errors import ApiError, aad_error
from ..http import json_response, world_of
from ..state import World
from .claims import NOT_INSTALLED, issue_token, resolve_resource, resource_not_found
from .federation import match_federated_credential
from .keys import SIGNING_KEY
from .metadata import check_tenant

ACCESS_TOKEN_TTL = 3599            # Entra's usual client-credentials lifetime (s); token_lifetime_s overrides
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


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



def _verify_assertion(request: web.Request, world: World, client_id: str, assertion: str) -> dict:
    """Match the assertion against the app's FICs, then check it is a live token this emulator signed."""
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise aad_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.") from None
    app = _client_app(world, client_id)
    match_federated_credential(world, app, unverified)
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
    world = world_of(request)
    check_tenant(world, request.match_info["tenant"])
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
        raise resource_not_found(world, resource_name)
    ttl = world.faults.token_ttl(ACCESS_TOKEN_TTL)
    token, _, _ = issue_token(request, oid=sp["id"], app_id=sp["appId"], resource=resource,
                              ttl=ttl, acr=acr)
    return json_response({"token_type": "Bearer", "expires_in": ttl,
                          "ext_expires_in": ttl, "access_token": token})

