"""Authentication of the operator: azure-identity's credential chain, one token per resource per run.

The chain, in order (the first that is configured wins; a configured credential that fails stops
the chain, like azure-identity's ChainedTokenCredential):

    EnvironmentCredential        AZURE_CLIENT_ID + AZURE_CLIENT_SECRET | AZURE_CLIENT_CERTIFICATE_PATH
                                 | AZURE_FEDERATED_TOKEN_FILE, and AZURE_TENANT_ID
    AzurePipelinesCredential     inside an Azure DevOps pipeline whose task exposes a service
                                 connection (AZURESUBSCRIPTION_CLIENT_ID, _TENANT_ID,
                                 _SERVICE_CONNECTION_ID, SYSTEM_OIDCREQUESTURI, SYSTEM_ACCESSTOKEN)
    WorkloadIdentityCredential   AZURE_FEDERATED_TOKEN_FILE + AZURE_CLIENT_ID + AZURE_TENANT_ID (AKS)
    ManagedIdentityCredential    on Azure compute (AZURE_CLIENT_ID picks a user-assigned identity)
    AzureCliCredential           `az login`
    AzureDeveloperCliCredential  `azd auth login`

``OperatorCredential`` is itself an async token credential (so msgraph-sdk and azure-mgmt clients
take it), caches one token per (scope, tenant, claims) for the run, logs which credential answered
and how long it took - never the token - and turns failures into ``CliError`` (exit 3, or exit 1
when the login endpoint cannot be reached).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from typing import Any

from ..clouds import Cloud
from ..errors import CliError, api_error, auth_error

log = logging.getLogger("entra_bootstrap.auth")

_PIPELINE_ENV = ("AZURESUBSCRIPTION_CLIENT_ID", "AZURESUBSCRIPTION_TENANT_ID",
                 "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "SYSTEM_OIDCREQUESTURI", "SYSTEM_ACCESSTOKEN")


def ca_bundle() -> str | None:
    """The CA bundle to trust in addition to the system's (REQUESTS_CA_BUNDLE, then SSL_CERT_FILE)."""
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(var)
        if value:
            return value
    return None


def shared_transport(verify: str | None):
    """The httpx transport of clients/transport.py, or None (azure-core's default aiohttp transport)
    when the installed azure-core lacks the internals it builds on: it is an optimisation only."""
    try:
        from .transport import HttpxTransport
    except ImportError:
        return None
    return HttpxTransport(verify)


def decode_claims(token: str) -> dict:
    """The claims of a JWT, read without verifying it (to show roles; never to trust them)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return {}


def _network_failure(exc: BaseException) -> bool:
    from azure.core.exceptions import ServiceRequestError
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (ServiceRequestError, ConnectionError, OSError)):
            return True
        text = str(exc)
        if "Cannot connect" in text or "Connection refused" in text or "ServiceRequestError" in text:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _first_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.strip().split())
    return line if len(line) <= limit else line[:limit] + "..."


class OperatorCredential:
    """The operator's credential chain with a per-run token cache (an AsyncTokenCredential)."""

    def __init__(self, cloud: Cloud, tenant: str | None = None):
        self.cloud = cloud
        self.tenant = tenant
        self.used: str | None = None            # class name of the credential that answered
        self._chain: list[tuple[str, Any]] | None = None
        self._cache: dict[tuple, Any] = {}
        self._transport: Any = None

    # --- the chain ------------------------------------------------------------------------------
    def _common(self) -> dict:
        kw: dict[str, Any] = {"authority": self.cloud.login,
                              "additionally_allowed_tenants": ["*"], "transport": self._http()}
        if not self.cloud.instance_discovery:
            kw["disable_instance_discovery"] = True
        if ca_bundle():
            kw["connection_verify"] = ca_bundle()
        return kw

    def _http(self):
        """The credentials' HTTP transport (httpx, shared by the chain; see clients/transport.py)."""
        if self._transport is None:
            self._transport = shared_transport(ca_bundle())
        return self._transport

    def _build_chain(self) -> list[tuple[str, Any]]:
        from azure.identity.aio import (AzureCliCredential, AzureDeveloperCliCredential,
                                        AzurePipelinesCredential, EnvironmentCredential,
                                        ManagedIdentityCredential, WorkloadIdentityCredential)
        env = os.environ
        kw = self._common()
        chain: list[tuple[str, Any]] = [("EnvironmentCredential", EnvironmentCredential(**kw))]
        if all(env.get(v) for v in _PIPELINE_ENV):
            chain.append(("AzurePipelinesCredential", AzurePipelinesCredential(
                tenant_id=env["AZURESUBSCRIPTION_TENANT_ID"],
                client_id=env["AZURESUBSCRIPTION_CLIENT_ID"],
                service_connection_id=env["AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"],
                system_access_token=env["SYSTEM_ACCESSTOKEN"], **kw)))
        if env.get("AZURE_FEDERATED_TOKEN_FILE") and env.get("AZURE_CLIENT_ID") and env.get("AZURE_TENANT_ID"):
            chain.append(("WorkloadIdentityCredential", WorkloadIdentityCredential(**kw)))
        mi_kw: dict[str, Any] = {"client_id": env["AZURE_CLIENT_ID"]} if env.get("AZURE_CLIENT_ID") else {}
        mi_kw["transport"] = self._http()
        if ca_bundle():
            mi_kw["connection_verify"] = ca_bundle()
        chain.append(("ManagedIdentityCredential", ManagedIdentityCredential(**mi_kw)))
        cli_kw = {"tenant_id": self.tenant} if self.tenant else {}
        chain.append(("AzureCliCredential", AzureCliCredential(**cli_kw)))
        chain.append(("AzureDeveloperCliCredential", AzureDeveloperCliCredential(**cli_kw)))
        return chain

    # --- AsyncTokenCredential -------------------------------------------------------------------
    async def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                        enable_cae: bool = False, **kwargs: Any):
        from azure.core.exceptions import ClientAuthenticationError
        from azure.identity import CredentialUnavailableError

        tenant_id = tenant_id or self.tenant
        key = (scopes, tenant_id, enable_cae)
        cached = self._cache.get(key)
        if cached is not None and not claims and cached.expires_on - time.time() > 120:
            return cached
        if self._chain is None:
            self._chain = self._build_chain()
        if tenant_id:
            kwargs["tenant_id"] = tenant_id
        unavailable: list[str] = []
        chain = self._chain if self.used is None else [c for c in self._chain if c[0] == self.used]
        for name, credential in chain:
            started = time.monotonic()
            try:
                token = await credential.get_token(*scopes, claims=claims, enable_cae=enable_cae, **kwargs)
            except CredentialUnavailableError as exc:
                unavailable.append(f"{name}: {_first_line(str(exc), 160)}")
                continue
            except ClientAuthenticationError as exc:
                raise self._failure(name, scopes, exc) from None
            except Exception as exc:  # noqa: BLE001 - a transport error inside the credential
                raise self._failure(name, scopes, exc) from None
            log.debug("token for %s from %s in %.0f ms", " ".join(scopes), name,
                      (time.monotonic() - started) * 1000)
            self.used = name
            self._cache[key] = token
            return token
        raise auth_error("no credential is available to sign in the operator",
                         code="NoCredential",
                         fix="set AZURE_CLIENT_ID + AZURE_CLIENT_SECRET (or a certificate or federated "
                             "token file) + AZURE_TENANT_ID, run on Azure with a managed identity, or "
                             "sign in with `az login`; tried: " + "; ".join(unavailable))

    def _failure(self, name: str, scopes: tuple[str, ...], exc: BaseException) -> CliError:
        if _network_failure(exc):
            where = ("the managed identity endpoint" if name == "ManagedIdentityCredential"
                     else f"the login endpoint {self.cloud.login}")
            return api_error(f"cannot reach {where} ({name}): "
                             f"{_first_line(str(exc), 240)}", code="EndpointUnreachable",
                             fix="check the network, --cloud, AZURE_AUTHORITY_HOST and the CA bundle "
                                 "(REQUESTS_CA_BUNDLE)")
        message = getattr(exc, "message", None) or str(exc)
        return auth_error(f"{name} could not get a token for {' '.join(scopes)}: {_first_line(message)}",
                          code="AuthenticationFailed",
                          fix="check the operator's credentials (client id, secret or certificate, "
                              "tenant) and that the app exists in the tenant")

    async def close(self) -> None:
        for _, credential in self._chain or []:
            try:
                await credential.close()
            except Exception:  # noqa: BLE001 - closing must never mask the command's outcome
                pass
        self._chain = None
        if self._transport is not None:
            await self._transport.close()

    async def __aenter__(self) -> "OperatorCredential":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
