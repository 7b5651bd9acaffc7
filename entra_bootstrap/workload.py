"""The workload side: the identity's exchange token from the metadata endpoint, a private token
file kept fresh, and the environment each consumer reads (``exec``, ``token``, ``env``).

Nothing here needs Graph or ARM rights. On the workload (a VM, a scale-set instance, a container
group, an Azure DevOps agent) the managed identity endpoint gives a token of the attached identity
for the cloud's token-exchange audience (``api://AzureADTokenExchange``); that token, written to a
file, is what every consumer presents as the client assertion for the app (Entra ID "Configure an
application to trust a managed identity"): azure-identity's ``WorkloadIdentityCredential``,
terraform azurerm/azuread (``ARM_OIDC_TOKEN_FILE_PATH``), the Microsoft 365 provider
(``workload_identity``) and ``az login --federated-token``.

The endpoint: ``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER`` (App Service style, api-version
2019-08-01) when both are set, else IMDS at ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` (azure-identity's
override; the emulator's env.sh sets it to act as myVM) or ``http://169.254.169.254``. Requests to
it never go through a proxy (IMDS refuses proxied requests).

The file is replaced atomically (a new 0600 file renamed over the old one), so a reader sees the
old token or the new one, never half of one. The refresher rewrites it once fewer than
``ENTRA_BOOTSTRAP_TOKEN_REFRESH_MARGIN`` seconds of the token's lifetime are left (default: 15
minutes, at most half the lifetime), checking every ``ENTRA_BOOTSTRAP_TOKEN_REFRESH_INTERVAL``
seconds (default 60). Tokens are never printed or logged: only paths, ids and expiry times.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from .clouds import Cloud
from .errors import CliError, EXIT_AUTH, api_error, auth_error, not_found, usage_error

log = logging.getLogger("entra_bootstrap.workload")

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
IMDS_HOST = "http://169.254.169.254"
TOKEN_PATH = "/metadata/identity/oauth2/token"
MARGIN_ENV = "ENTRA_BOOTSTRAP_TOKEN_REFRESH_MARGIN"
INTERVAL_ENV = "ENTRA_BOOTSTRAP_TOKEN_REFRESH_INTERVAL"
DEFAULT_MARGIN = 900.0
DEFAULT_INTERVAL = 60.0
TOKEN_FILE_NAME = "federated-token"

CONSUMERS = ("azure-identity", "terraform-azurerm", "terraform-azuread", "terraform-microsoft365", "az")
SHELLS = ("sh", "pwsh", "dotenv", "hcl")


# --- input ---------------------------------------------------------------------------------------

def check_guid(value: str | None, option: str, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise usage_error(f"{option} is required", code="MissingOption",
                              fix=f"pass {option} GUID (the application's client id: "
                                  "`entra-bootstrap app show NAME`)")
        return None
    if not GUID.match(value.strip()):
        raise usage_error(f"{option} {value!r} is not a GUID", code="MalformedGuid",
                          fix=f"{option} takes a client id such as 00000000-0000-0000-0000-000000000000")
    return value.strip().lower()


def check_tenant(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if GUID.match(value) or DOMAIN.match(value):
        return value.lower()
    raise usage_error(f"--tenant {value!r} is neither a GUID nor a domain", code="BadTenant",
                      fix="pass the tenant id (GUID) or a verified domain such as contoso.onmicrosoft.com")


@dataclass(frozen=True)
class RefreshSettings:
    margin: float | None          # None: the default (15 min, at most half the lifetime)
    interval: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "RefreshSettings":
        env = os.environ if env is None else env

        def num(name: str) -> float | None:
            raw = env.get(name)
            if raw in (None, ""):
                return None
            try:
                value = float(raw)
            except ValueError:
                value = -1
            if value < 0 or value != value:
                raise usage_error(f"{name}={raw!r} is not a number of seconds", code="BadRefreshSetting",
                                  fix=f"set {name} to a number of seconds, or unset it")
            return value

        interval = num(INTERVAL_ENV)
        return cls(margin=num(MARGIN_ENV), interval=DEFAULT_INTERVAL if interval is None else max(interval, 0.05))

    def margin_for(self, lifetime: float) -> float:
        if self.margin is not None:
            return self.margin
        return min(DEFAULT_MARGIN, max(lifetime, 0) / 2)


# --- the identity's token -------------------------------------------------------------------------

@dataclass
class IdentityToken:
    """The managed identity's token for the exchange audience. ``repr`` never shows the token."""

    token: str = field(repr=False)
    expires_on: int
    issued_at: int
    client_id: str | None = None

    @property
    def claims(self) -> dict:
        from .clients.auth import decode_claims

        return decode_claims(self.token)

    @property
    def tenant_id(self) -> str | None:
        return self.claims.get("tid")

    @property
    def lifetime(self) -> int:
        return max(self.expires_on - self.issued_at, 0)


def _no_proxy_opener(context: ssl.SSLContext | None) -> urllib.request.OpenerDirector:
    handlers: list = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


def _ssl_context() -> ssl.SSLContext:
    from .clients.auth import ca_bundle

    ca = ca_bundle()
    return ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()


def _network_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    return " ".join(str(reason).split())[:200] or type(exc).__name__


class MetadataEndpoint:
    """The managed identity endpoint of this machine (see the module docstring)."""

    TIMEOUT = 5.0
    NETWORK_ATTEMPTS = 3

    def __init__(self, cloud: Cloud, identity_client_id: str | None = None,
                 env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        self.cloud = cloud
        self.identity_client_id = identity_client_id
        self.app_service = bool(env.get("IDENTITY_ENDPOINT") and env.get("IDENTITY_HEADER"))
        if self.app_service:
            self.url = env["IDENTITY_ENDPOINT"]
            self._header = ("X-IDENTITY-HEADER", env["IDENTITY_HEADER"])
            self.where = "IDENTITY_ENDPOINT"
        else:
            host = (env.get("AZURE_POD_IDENTITY_AUTHORITY_HOST") or IMDS_HOST).strip().rstrip("/")
            self.url = host + TOKEN_PATH
            self._header = ("Metadata", "true")
            self.where = ("AZURE_POD_IDENTITY_AUTHORITY_HOST" if env.get("AZURE_POD_IDENTITY_AUTHORITY_HOST")
                          else "the instance metadata endpoint (169.254.169.254)")

    def _request(self) -> urllib.request.Request:
        params = {"api-version": "2019-08-01" if self.app_service else "2018-02-01",
                  "resource": self.cloud.token_exchange_audience}
        if self.identity_client_id:
            params["client_id"] = self.identity_client_id
        sep = "&" if "?" in self.url else "?"
        return urllib.request.Request(self.url + sep + urllib.parse.urlencode(params),
                                      headers=dict([self._header]), method="GET")

    def fetch(self) -> IdentityToken:
        """A fresh token (never a cached one: every call asks the endpoint). A network failure is
        retried ``NETWORK_ATTEMPTS`` times, a throttled or failing answer (410, 429, 5xx) within the
        retry budget - by the one retry helper (clients/retry.py)."""
        from .clients.retry import THROTTLED, RetryPolicy, with_retries_sync

        opener = _no_proxy_opener(_ssl_context() if self.url.startswith("https://") else None)
        network_failures = [0]

        def once() -> IdentityToken:
            t0 = time.monotonic()
            try:
                with opener.open(self._request(), timeout=self.TIMEOUT) as response:
                    status, body = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read()
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                log.debug("GET %s -> %s (%.0f ms)", self.url, _network_reason(exc), (time.monotonic() - t0) * 1000)
                raise _Unanswered(_network_reason(exc)) from None
            log.debug("GET %s -> %s (%.0f ms)", self.url, status, (time.monotonic() - t0) * 1000)
            if status in (410, 429) or status >= 500:
                raise _Refused(status, body)
            return self._answer(status, body)

        def retry_on(exc: Exception) -> str | None:
            if isinstance(exc, _Unanswered):
                network_failures[0] += 1
                return "no answer" if network_failures[0] < self.NETWORK_ATTEMPTS else None
            return THROTTLED if isinstance(exc, _Refused) else None

        try:
            return with_retries_sync(once, what=f"GET {self.where}", policy=RetryPolicy.from_env(),
                                     retry_on=retry_on)
        except _Unanswered as exc:
            raise self._unreachable(exc.reason) from None
        except _Refused as exc:
            return self._answer(exc.status, exc.body)

    def _unreachable(self, reason: str) -> CliError:
        return api_error(
            f"no managed identity endpoint answered at {self.url} ({reason})",
            code="NoMetadataEndpoint", object=self.where,
            fix="run this on the Azure resource (VM, scale-set instance, container group, Azure DevOps "
                "agent) the identity is attached to; 169.254.169.254 must be reachable without a proxy "
                "(add it to NO_PROXY) and not blocked by a firewall or a container network")

    def _answer(self, status: int, body: bytes) -> IdentityToken:
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise self._unreachable(f"HTTP {status} with a body that is not the endpoint's JSON; "
                                    "a proxy may have answered")
        if 200 <= status < 300 and doc.get("access_token"):
            token = doc["access_token"]
            from .clients.auth import decode_claims

            claims = decode_claims(token)
            try:
                expires_on = int(float(doc.get("expires_on")))
            except (TypeError, ValueError):     # absent, or an older API's date text
                expires_on = int(claims.get("exp") or time.time() + 3600)
            issued = int(claims.get("iat") or doc.get("not_before") or time.time())
            return IdentityToken(token, expires_on, issued, doc.get("client_id") or claims.get("appid"))
        message = " ".join(str(doc.get("error_description") or doc.get("message") or doc.get("error")
                               or f"HTTP {status}").split())[:300]
        lowered = message.lower()
        if "multiple user assigned identities" in lowered:
            raise usage_error(
                f"several identities are attached to this resource and none was chosen: {message}",
                code="IdentityAmbiguous", object=self.where,
                fix="pass --identity-client-id with the client id of the identity federated to the app "
                    "(`entra-bootstrap identity show --vm NAME -g RG` lists them)")
        if "identity not found" in lowered or "no identity" in lowered or "not been assigned" in lowered:
            which = (f"identity {self.identity_client_id}" if self.identity_client_id
                     else "a managed identity")
            raise not_found(
                f"{which} is not attached to this resource: {message}", code="IdentityNotAttached",
                object=self.where, status=status,
                fix="attach it (`entra-bootstrap identity enable --vm NAME -g RG --user-assigned IDENTITY`, "
                    "or `up -f FILE` with assign_to), or pass the --identity-client-id of one that is; "
                    "a new assignment can take a minute to reach the endpoint")
        if "invalid_resource" in lowered or doc.get("error") == "invalid_resource":
            raise usage_error(f"the endpoint refused the audience {self.cloud.token_exchange_audience}: "
                              f"{message}", code="BadAudience", fix="check --cloud")
        raise auth_error(f"the managed identity endpoint refused the token request (HTTP {status}): {message}",
                         code="ManagedIdentityRefused", object=self.where, status=status,
                         fix="run again with --debug; check the identity's assignment to this resource")


# --- the exchange (a check: the app token is thrown away) -----------------------------------------

_EXCHANGE_FIXES = {
    700211: ("the app has no federated credential with this issuer",
             "the federated credential's issuer must be {issuer} (this tenant, this cloud): check "
             "--tenant / --cloud, or run `entra-bootstrap up -f FILE` (or `federation add --app APP "
             "--managed-identity IDENTITY`) in the app's tenant"),
    700212: ("the app has no federated credential with this audience",
             "the credential's audience must be {audience}: check --cloud, or re-create the credential"),
    700213: ("the app has no federated credential for this identity (subject)",
             "the credential's subject must be the identity's principal id {subject}: the identity was "
             "re-created, or another identity answered (pass --identity-client-id); run `entra-bootstrap "
             "up -f FILE` or `verify -f FILE`"),
    7002138: ("a federated credential matches this identity only case-insensitively",
              "the subject must be exactly {subject} (lower case): re-create the credential with "
              "`entra-bootstrap up -f FILE`"),
    70021: ("no federated credential matched yet",
            "a new federated credential can take a few minutes to propagate: wait and run again; if it "
            "persists, check issuer {issuer} and subject {subject} with `entra-bootstrap verify -f FILE`"),
    700016: ("the application is not in this tenant",
             "check --client-id (the app's client id) and --tenant"),
    7000229: ("the application has no service principal in this tenant",
              "create it: `entra-bootstrap sp create --app APP` (or `up -f FILE`)"),
    90002: ("the tenant does not exist", "check --tenant"),
    700024: ("the identity's token is not valid now (expired or not yet valid)",
             "check the machine's clock; fetch a new one (run again)"),
}


def exchange_check(cloud: Cloud, tenant: str, client_id: str, identity: IdentityToken,
                   *, budget: float | None = None) -> list[str]:
    """Present the identity's token for the app, as every consumer will; the app's roles on Microsoft
    Graph (the app token itself is discarded). AADSTS70021 (a new credential that has not
    propagated) is retried within the retry budget by the one retry helper; every other refusal is
    explained and final."""
    from dataclasses import replace

    from .clients.auth import decode_claims
    from .clients.retry import REPLICATION, RetryPolicy, with_retries_sync

    policy = RetryPolicy.from_env()
    if budget is not None:
        policy = replace(policy, max_time=budget)
    url = f"{cloud.login}/{urllib.parse.quote(tenant)}/oauth2/v2.0/token"
    opener = _no_proxy_opener(_ssl_context())

    def once() -> list[str]:
        data = urllib.parse.urlencode({
            "client_id": client_id, "grant_type": "client_credentials", "scope": cloud.graph_scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": identity.token}).encode()
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        t0 = time.monotonic()
        try:
            with opener.open(request, timeout=30) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise api_error(f"cannot reach the login endpoint {cloud.login}: {_network_reason(exc)}",
                            code="EndpointUnreachable",
                            fix="the workload needs outbound HTTPS to the login endpoint; check the proxy "
                                "(HTTPS_PROXY), --cloud and the CA bundle (REQUESTS_CA_BUNDLE)") from None
        log.debug("POST %s -> %s (%.0f ms)", url, status, (time.monotonic() - t0) * 1000)
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            doc = {}
        if 200 <= status < 300 and isinstance(doc, dict) and doc.get("access_token"):
            return sorted(decode_claims(doc["access_token"]).get("roles", []))
        codes = [int(c) for c in (doc.get("error_codes") or []) if str(c).isdigit()] if isinstance(doc, dict) else []
        description = str(doc.get("error_description") or doc.get("error") or f"HTTP {status}") \
            if isinstance(doc, dict) else f"HTTP {status}"
        if not codes:
            m = re.search(r"AADSTS(\d+)", description)
            codes = [int(m.group(1))] if m else []
        raise _ExchangeRefused(codes[0] if codes else None, description, status)

    try:
        return with_retries_sync(once, what="token exchange", policy=policy,
                                 retry_on=lambda e: REPLICATION if isinstance(e, _ExchangeRefused)
                                 and e.code == 70021 else None)
    except _ExchangeRefused as exc:
        raise _exchange_error(cloud, tenant, client_id, identity, exc.code, exc.description,
                              exc.status) from None


class _Unanswered(Exception):
    """The metadata endpoint did not answer (refused, timed out, unreachable)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Refused(Exception):
    """The metadata endpoint answered 410, 429 or 5xx (worth asking again)."""

    def __init__(self, status: int, body: bytes):
        super().__init__(f"HTTP {status}")
        self.status, self.body = status, body


class _ExchangeRefused(Exception):
    """The token endpoint refused the exchange (``code``: the AADSTS number, when it gave one)."""

    def __init__(self, code: int | None, description: str, status: int):
        super().__init__(f"AADSTS{code}" if code else description)
        self.code, self.description, self.status = code, description, status


def _exchange_error(cloud: Cloud, tenant: str, client_id: str, identity: IdentityToken,
                    code: int | None, description: str, status: int) -> CliError:
    claims = identity.claims
    first = " ".join(description.split()).split(" Trace ID:")[0][:300]
    what, fix = _EXCHANGE_FIXES.get(code or 0, (
        "the exchange was refused",
        "check the app's federated credential (issuer {issuer}, subject {subject}, audience {audience})"))
    fix = fix.format(issuer=claims.get("iss") or cloud.issuer(tenant), subject=claims.get("sub", "?"),
                     audience=claims.get("aud") or cloud.token_exchange_audience)
    return CliError(f"the exchange for app {client_id} was refused: {what} ({first})",
                    code=f"AADSTS{code}" if code else "ExchangeRefused",
                    object=f"application {client_id}", fix=fix, exit_code=EXIT_AUTH, status=status)


# --- the token file ------------------------------------------------------------------------------

def write_token_file(path: Path, token: str) -> None:
    """Replace ``path`` atomically by a 0600 file holding ``token``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def prepare_token_path(value: str) -> Path:
    """The absolute path of ``--file``; its directory is created 0700 if missing."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    if path.is_dir():
        raise usage_error(f"--file {value} is a directory", code="BadTokenFile",
                          fix="give the path of a file, e.g. /run/entra-bootstrap/token")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise usage_error(f"cannot create the directory of {path}: {exc.strerror}", code="BadTokenFile",
                          fix="choose a directory this user may write") from None
    return path


class Refresher(threading.Thread):
    """Rewrites the token file before the token expires, until ``stop()``."""

    def __init__(self, fetch: Callable[[], IdentityToken], path: Path, current: IdentityToken,
                 settings: RefreshSettings, on_refresh: Callable[[IdentityToken], None] | None = None):
        super().__init__(name="entra-bootstrap-token-refresher", daemon=True)
        self.fetch, self.path, self.current, self.settings = fetch, path, current, settings
        self.on_refresh = on_refresh
        self.refreshes = 0
        self._halt = threading.Event()

    def due(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self.current.expires_on - now <= self.settings.margin_for(self.current.lifetime)

    def run(self) -> None:
        while not self._halt.wait(self.settings.interval):
            if not self.due():
                continue
            try:
                token = self.fetch()
            except CliError as err:
                left = int(self.current.expires_on - time.time())
                sys.stderr.write(f"warning[{err.code}]: could not refresh {self.path} ({err.message}); "
                                 f"the current token expires in {left} s; retrying\n")
                continue
            except Exception as exc:  # noqa: BLE001 - the refresher must outlive one failure
                sys.stderr.write(f"warning: could not refresh {self.path}: {type(exc).__name__}\n")
                continue
            if self._halt.is_set():
                return
            try:
                write_token_file(self.path, token.token)
            except OSError as exc:
                if self._halt.is_set():      # exec removed the directory meanwhile
                    return
                sys.stderr.write(f"warning: could not write {self.path}: {exc.strerror}; retrying\n")
                continue
            self.current = token
            self.refreshes += 1
            log.info("refreshed %s (expires %s)", self.path, iso(token.expires_on))
            if self.on_refresh is not None:
                self.on_refresh(token)

    def stop(self) -> None:
        self._halt.set()


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# --- the consumers' environments -----------------------------------------------------------------

# Variables that would make a consumer use another credential than the token file.
OVERRIDES: dict[str, tuple[str, ...]] = {
    "azure-identity": ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
                       "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_TOKEN_CREDENTIALS"),
    "terraform-azurerm": ("ARM_CLIENT_SECRET", "ARM_CLIENT_SECRET_FILE_PATH", "ARM_CLIENT_CERTIFICATE",
                          "ARM_CLIENT_CERTIFICATE_PATH", "ARM_CLIENT_CERTIFICATE_PASSWORD", "ARM_CLIENT_ID_FILE_PATH",
                          "ARM_USE_MSI", "ARM_MSI_ENDPOINT", "ARM_OIDC_TOKEN", "ARM_OIDC_REQUEST_TOKEN",
                          "ARM_OIDC_REQUEST_URL", "ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID",
                          "ARM_OIDC_AZURE_SERVICE_CONNECTION_ID", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                          "ACTIONS_ID_TOKEN_REQUEST_URL"),
    "terraform-microsoft365": ("M365_MANAGED_IDENTITY_ID", "M365_CLIENT_SECRET", "M365_CLIENT_CERTIFICATE_FILE_PATH",
                               "M365_CLIENT_CERTIFICATE_PASSWORD", "M365_USERNAME", "M365_OIDC_TOKEN_FILE_PATH",
                               "M365_OIDC_REQUEST_URL", "M365_OIDC_REQUEST_TOKEN",
                               "ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID", "ARM_OIDC_AZURE_SERVICE_CONNECTION_ID"),
    "az": (),
}
OVERRIDES["terraform-azuread"] = OVERRIDES["terraform-azurerm"]

_ARM_ENVIRONMENT = {"usgov": "usgovernment", "china": "china"}
_M365_CLOUD = {"public": "public", "usgov": "gcchigh", "china": "china"}


@dataclass(frozen=True)
class Target:
    """What every consumer needs: the app, its tenant, the token file, the cloud."""

    client_id: str
    tenant_id: str
    token_file: str
    cloud: Cloud
    subscription: str | None = None


def consumer_env(consumer: str, t: Target) -> dict[str, str]:
    """The variables ``consumer`` reads (no secret: the token stays in the file)."""
    if consumer == "azure-identity":
        return {"AZURE_CLIENT_ID": t.client_id, "AZURE_TENANT_ID": t.tenant_id,
                "AZURE_FEDERATED_TOKEN_FILE": t.token_file, "AZURE_AUTHORITY_HOST": t.cloud.login}
    if consumer in ("terraform-azurerm", "terraform-azuread"):
        out = {"ARM_USE_OIDC": "true", "ARM_CLIENT_ID": t.client_id, "ARM_TENANT_ID": t.tenant_id,
               "ARM_OIDC_TOKEN_FILE_PATH": t.token_file}
        if t.cloud.name in _ARM_ENVIRONMENT:
            out["ARM_ENVIRONMENT"] = _ARM_ENVIRONMENT[t.cloud.name]
        if consumer == "terraform-azurerm" and t.subscription:
            out["ARM_SUBSCRIPTION_ID"] = t.subscription
        return out
    if consumer == "terraform-microsoft365":
        out = {"M365_AUTH_METHOD": "workload_identity", "M365_CLIENT_ID": t.client_id,
               "M365_TENANT_ID": t.tenant_id, "AZURE_FEDERATED_TOKEN_FILE": t.token_file}
        if t.cloud.name in _M365_CLOUD:
            out["M365_CLOUD"] = _M365_CLOUD[t.cloud.name]
        return out
    if consumer == "az":
        return {}
    raise usage_error(f"unknown consumer {consumer!r}", code="BadConsumer", fix=f"use one of: {', '.join(CONSUMERS)}")


def exec_environment(base: Mapping[str, str], t: Target) -> dict[str, str]:
    """``base`` with every consumer's variables set and every override removed (for ``exec``)."""
    env = dict(base)
    for consumer in CONSUMERS:
        for name in OVERRIDES[consumer]:
            env.pop(name, None)
    for consumer in CONSUMERS:
        env.update(consumer_env(consumer, t))
    return env


def _sh_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _pwsh_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _dotenv_value(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:@%+,=-]*", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _hcl_string(value: str) -> str:
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def render_env(consumer: str, t: Target, shell: str, *, unset: list[str] | tuple[str, ...] = ()) -> str:
    """``env --for CONSUMER --shell SHELL``: lines to evaluate (or, with hcl, the provider block)."""
    if consumer == "az":
        return az_login(t, shell)
    if shell == "hcl":
        return provider_block(consumer, t)
    values = consumer_env(consumer, t)
    lines: list[str] = []
    if shell == "sh":
        if unset:
            lines.append("unset " + " ".join(unset))
        lines += [f"export {k}={_sh_quote(v)}" for k, v in values.items()]
    elif shell == "pwsh":
        lines += [f"Remove-Item Env:{k} -ErrorAction SilentlyContinue" for k in unset]
        lines += [f"$env:{k} = {_pwsh_quote(v)}" for k, v in values.items()]
    elif shell == "dotenv":
        lines += [f"{k}={_dotenv_value(v)}" for k, v in values.items()]
    else:
        raise usage_error(f"unknown shell {shell!r}", code="BadShell", fix=f"use one of: {', '.join(SHELLS)}")
    return "\n".join(lines)


def provider_block(consumer: str, t: Target) -> str:
    """The Terraform provider block of ``consumer`` reading the token file."""
    q = _hcl_string
    if consumer == "terraform-microsoft365":
        lines = ['provider "microsoft365" {',
                 f'  auth_method = {q("workload_identity")}',
                 f'  tenant_id   = {q(t.tenant_id)}']
        if t.cloud.name in _M365_CLOUD:
            lines.append(f'  cloud       = {q(_M365_CLOUD[t.cloud.name])}')
        lines += ['  entra_id_options = {',
                  f'    client_id                 = {q(t.client_id)}',
                  f'    federated_token_file_path = {q(t.token_file)}',
                  '  }', '}']
        return "\n".join(lines)
    if consumer in ("terraform-azurerm", "terraform-azuread"):
        name = consumer.split("-", 1)[1]
        lines = [f'provider "{name}" {{']
        if name == "azurerm":
            lines.append("  features {}")
        lines += ["  use_oidc             = true",
                  f"  client_id            = {q(t.client_id)}",
                  f"  tenant_id            = {q(t.tenant_id)}",
                  f"  oidc_token_file_path = {q(t.token_file)}"]
        if t.cloud.name in _ARM_ENVIRONMENT:
            lines.append(f"  environment          = {q(_ARM_ENVIRONMENT[t.cloud.name])}")
        if name == "azurerm" and t.subscription:
            lines.append(f"  subscription_id      = {q(t.subscription)}")
        lines.append("}")
        return "\n".join(lines)
    raise usage_error(f"--shell hcl is for the Terraform providers, not {consumer}", code="BadShell",
                      fix="use --shell sh, pwsh or dotenv (or --for terraform-azurerm | terraform-azuread "
                          "| terraform-microsoft365 with hcl)")


def az_login(t: Target, shell: str) -> str:
    """The ``az login`` command reading the token from the file (never the token itself)."""
    if shell == "sh":
        read = f'"$(cat {_sh_quote(t.token_file)})"'
    elif shell == "pwsh":
        read = f"(Get-Content -Raw {_pwsh_quote(t.token_file)})"
    else:
        raise usage_error(f"--for az prints a command: --shell {shell} does not apply", code="BadShell",
                          fix="use --shell sh or pwsh")
    return (f"az login --service-principal -u {t.client_id} --tenant {t.tenant_id} "
            f"--federated-token {read} --allow-no-subscriptions")


def tenant_from_file(path: Path) -> str | None:
    from .clients.auth import decode_claims

    try:
        return decode_claims(path.read_text().strip()).get("tid")
    except OSError:
        return None


# --- running COMMAND -------------------------------------------------------------------------------

FORWARDED = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1",
                                                "SIGUSR2", "SIGWINCH") if hasattr(signal, n))


def _terminal_foreground() -> bool:
    """True when this process group is a terminal's foreground group: a Ctrl-C (SIGINT) or Ctrl-\\
    (SIGQUIT) from that terminal has already reached COMMAND, which shares the group."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return True
        except OSError:
            continue
    return False


class SignalForwarder:
    """Catches the forwarded signals from ``__enter__`` on (so none ends ``exec`` before its clean-up)
    and passes them to the child once it runs; a signal that came before the child started is
    delivered when it starts. SIGINT/SIGQUIT are not passed on when this process group is the
    terminal's foreground group: the terminal already sent them to COMMAND, and a second one would
    be read as "interrupt twice" (Terraform then exits at once instead of shutting down cleanly)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.pending: list[int] = []
        self._previous: dict = {}

    def _handle(self, signum, _frame) -> None:
        if signum in (getattr(signal, "SIGINT", None), getattr(signal, "SIGQUIT", None)) and _terminal_foreground():
            return
        if self.proc is None:
            self.pending.append(signum)
            return
        try:
            self.proc.send_signal(signum)
        except ProcessLookupError:
            pass

    def attach(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        for signum in self.pending:
            self._handle(signum, None)
        self.pending.clear()

    def __enter__(self) -> "SignalForwarder":
        for sig in FORWARDED:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):       # not the main thread, or not catchable
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run_command(argv: list[str], env: dict[str, str], forwarder: SignalForwarder) -> int:
    """Run COMMAND with ``env`` (signals passed on by ``forwarder``); its exit code, or 128+N if
    signal N ended it, as shells report it."""
    try:
        proc = subprocess.Popen(argv, env=env)
    except FileNotFoundError:
        raise CliError(f"command not found: {argv[0]}", code="CommandNotFound",
                       fix="give the command's path, or check PATH", exit_code=127) from None
    except PermissionError:
        raise CliError(f"command not executable: {argv[0]}", code="CommandNotExecutable",
                       fix=f"chmod +x {argv[0]}", exit_code=126) from None
    forwarder.attach(proc)
    rc = proc.wait()
    return 128 - rc if rc < 0 else rc


def fresh_token_dir() -> Path:
    """A new 0700 directory for ``exec``'s token file (removed after COMMAND ends)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if not base or not os.path.isdir(base) or not os.access(base, os.W_OK):
        base = None
    path = Path(tempfile.mkdtemp(prefix="entra-bootstrap-", dir=base))
    os.chmod(path, 0o700)
    return path


def remove_token_dir(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
