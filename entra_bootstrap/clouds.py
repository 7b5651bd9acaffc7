"""The Azure clouds in one table: login host, Microsoft Graph, Resource Manager, token-exchange audience.

``custom`` is built from the environment (an Azure Stack, a private cloud, or the emulator):
``AZURE_AUTHORITY_HOST``, ``ENTRA_BOOTSTRAP_GRAPH_ENDPOINT``, ``ENTRA_BOOTSTRAP_ARM_ENDPOINT`` and,
optionally, ``ENTRA_BOOTSTRAP_TOKEN_EXCHANGE_AUDIENCE`` (default ``api://AzureADTokenExchange``).
Instance discovery is off for a custom cloud (MSAL would otherwise ask login.microsoftonline.com).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from .errors import usage_error
from .spec.rules import check_cloud


@dataclass(frozen=True)
class Cloud:
    name: str
    login: str                   # authority host, no trailing slash
    graph: str                   # Graph base without /v1.0
    arm: str                     # Resource Manager base
    token_exchange_audience: str  # audience of the managed identity token presented as a FIC
    instance_discovery: bool = True

    @property
    def graph_scope(self) -> str:
        return f"{self.graph}/.default"

    @property
    def arm_scope(self) -> str:
        return f"{self.arm}/.default"

    def issuer(self, tenant_id: str) -> str:
        """The issuer of Entra ID tokens of ``tenant_id`` (what a managed identity FIC names).

        NOTE: Entra ID "Configure an application to trust a managed identity": the issuer is
        https://login.microsoftonline.com/{tenant}/v2.0; other clouds use their own login host.
        """
        return f"{self.login}/{tenant_id}/v2.0"


# NOTE: audiences per cloud from "Configure an application to trust a managed identity" (the
# token-exchange audience); Graph and ARM hosts from "National cloud deployments" (Microsoft Graph).
CLOUDS: dict[str, Cloud] = {
    "public": Cloud("public", "https://login.microsoftonline.com", "https://graph.microsoft.com",
                    "https://management.azure.com", "api://AzureADTokenExchange"),
    "usgov": Cloud("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us",
                   "https://management.usgovcloudapi.net", "api://AzureADTokenExchangeUSGov"),
    "china": Cloud("china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn",
                   "https://management.chinacloudapi.cn", "api://AzureADTokenExchangeChina"),
}

CUSTOM_ENV = {"login": "AZURE_AUTHORITY_HOST", "graph": "ENTRA_BOOTSTRAP_GRAPH_ENDPOINT",
              "arm": "ENTRA_BOOTSTRAP_ARM_ENDPOINT"}


def _https_url(value: str, var: str) -> str:
    value = value.strip().rstrip("/")
    if not value.startswith("https://") or len(value) <= len("https://"):
        raise usage_error(f"{var}={value!r} is not an https:// URL",
                          code="BadCloudEndpoint", fix=f"set {var} to the https:// base URL of the endpoint")
    return value


def get_cloud(name: str | None, env: Mapping[str, str] | None = None) -> Cloud:
    """The cloud called ``name`` (default public); ``custom`` reads its endpoints from ``env``."""
    env = os.environ if env is None else env
    name = check_cloud(name or "public", "--cloud")
    if name in CLOUDS:
        return CLOUDS[name]
    missing = [var for var in CUSTOM_ENV.values() if not env.get(var)]
    if missing:
        raise usage_error(f"--cloud custom needs {', '.join(missing)}", code="BadCloud",
                          fix="export " + " ".join(f"{v}=https://..." for v in missing))
    urls = {key: _https_url(env[var], var) for key, var in CUSTOM_ENV.items()}
    audience = env.get("ENTRA_BOOTSTRAP_TOKEN_EXCHANGE_AUDIENCE") or "api://AzureADTokenExchange"
    return Cloud("custom", urls["login"], urls["graph"], urls["arm"], audience, instance_discovery=False)
