"""The routes of the Entra ID side (authority = the emulator's base URL, exactly as
``https://login.microsoftonline.com``):

  GET  /{tenant}/v2.0/.well-known/openid-configuration   discovery (tenant id, or common/organizations)
  GET  /{tenant}/discovery/v2.0/keys                     JWKS (one RSA key, generated per start)
  POST /{tenant}/oauth2/v2.0/token                       client_credentials with client_secret or
                                                         client_assertion (a token this emulator signed)
  GET  /imds{RESOURCE_ID}/metadata/identity/oauth2/token managed identity, acting as RESOURCE_ID (a VM,
                                                         scale set or container group of world.arm)
  GET  /arm/metadata/endpoints                           ARM's cloud metadata (login endpoint, audiences,
                                                         Graph resource id), no token: what
                                                         ``az cloud register`` reads
"""

from __future__ import annotations

from aiohttp import web

from .endpoint import token_endpoint
from .imds import imds_token
from .keys import SIGNING_KEY, SigningKey, jwks
from .metadata import cloud_metadata, openid_configuration


def add_routes(app: web.Application) -> None:
    app[SIGNING_KEY] = SigningKey()
    r = app.router
    r.add_get("/imds/{rid:.+}/metadata/identity/oauth2/token", imds_token)
    r.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    r.add_get("/{tenant}/discovery/v2.0/keys", jwks)
    r.add_post("/{tenant}/oauth2/v2.0/token", token_endpoint)
    # Mounted before ARM's routes (app.make_app), so it wins over ARM's catch-all.
    r.add_get("/arm/{sep:/*}metadata/endpoints", cloud_metadata)
