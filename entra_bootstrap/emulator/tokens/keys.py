"""The RSA key that signs every token of one emulator run (``SIGNING_KEY`` on the app) and the
JWKS route that publishes it: ``GET /{tenant}/discovery/v2.0/keys`` (one RSA key, generated per
start, with ``kid``/``x5t`` and the tenant's ``issuer``, as Entra publishes it).
"""

from __future__ import annotations

import base64
import uuid

import jwt
from aiohttp import web

from ..http import json_response, world_of
from .metadata import check_tenant


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


async def jwks(request: web.Request) -> web.Response:
    world = world_of(request)
    check_tenant(world, request.match_info["tenant"], allow_aliases=True)
    key = dict(request.app[SIGNING_KEY].jwk, issuer=world.issuer)
    return json_response({"keys": [key]})
