"""How Graph and ARM handlers learn who is calling: ``authenticate(request, api)`` checks the Bearer
token (signature and lifetime with the run's signing key, tenant, audience) and answers the 401 of
that API — Graph ``InvalidAuthenticationToken``; ARM ``AuthenticationFailed`` /
``InvalidAuthenticationToken`` / ``ExpiredAuthenticationToken`` /
``InvalidAuthenticationTokenAudience``, each with its ``WWW-Authenticate`` challenge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import jwt
from aiohttp import web

from .errors import ApiError, arm_error, graph_error
from .http import world_of
from .state import GRAPH_APP_ID, World
from .tokens.claims import api_audiences, normalize
from .tokens.keys import SIGNING_KEY

# NOTE: ARM's own list of allowed audiences, quoted in its InvalidAuthenticationTokenAudience error.
ARM_ALLOWED_TEXT = ("'https://management.core.windows.net/','https://management.core.windows.net',"
                    "'https://management.azure.com/','https://management.azure.com'")


@dataclass(frozen=True)
class Caller:
    oid: str            # object id of the calling service principal (or managed identity principal)
    app_id: str         # client id
    tenant_id: str
    roles: frozenset[str]   # app role values in the token (Graph permissions for Graph tokens)
    audience: str
    claims: dict



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
    world = world_of(request)
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
    if claims.get("tid") != world.tenant_id or normalize(aud) not in api_audiences(world, api):
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

