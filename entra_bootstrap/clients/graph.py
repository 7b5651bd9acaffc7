"""A thin Microsoft Graph client: plain dicts in and out, sent through msgraph-sdk's request adapter.

Requests go through msgraph-sdk's ``GraphServiceClient`` request adapter - its azure-identity
authentication provider and its middleware pipeline (retry on 429/503/504 honouring Retry-After,
redirects, telemetry) - but responses are read as raw JSON with kiota's ``NativeResponseHandler``:
the steps deal in dicts, and msgraph-sdk's ~1,200 model modules are never imported (importing
them costs ~0.7 s per process; ``python -X importtime``). Errors become ``GraphError(status, code,
message)``; the call helpers add classified retries (clients/retry.py) and turn what remains into
a ``CliError`` that names the object and, for a 403, the permission the operator lacks.

This module is the transport; the named operations the steps call (applications, service
principals, owners, federated credentials, consent) are in clients/graph_ops.py.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import quote, urlencode

from .. import audit
from ..clouds import Cloud
from ..errors import CliError, api_error, auth_error, not_found
from .retry import REPLICATION, RetryPolicy, classify, with_retries

log = logging.getLogger("entra_bootstrap.http")

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


class GraphError(Exception):
    """A Graph error response, as Graph spelled it."""

    def __init__(self, status: int, code: str, message: str, *, method: str = "", url: str = "",
                 retry_after: float | None = None, request_id: str | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.url = url
        self.retry_after = retry_after
        self.request_id = request_id


@dataclass
class GraphResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def key_segment(name: str, value: str) -> str:
    """An alternate-key segment such as ``(uniqueName='x')``, quoted for Graph (' doubled)."""
    return f"({name}='{quote(value.replace(chr(39), chr(39) * 2), safe='')}')"


def odata_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _retry_after(headers) -> float | None:
    raw = headers.get("Retry-After") if headers else None
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _parse_error(status: int, content: bytes, headers) -> tuple[str, str, str | None]:
    try:
        err = json.loads(content or b"{}").get("error") or {}
    except (ValueError, AttributeError):
        err = {}
    if isinstance(err, str):      # token-endpoint style {"error": "...", "error_description": ...}
        return err, "", None
    code = err.get("code") or f"HTTP{status}"
    message = err.get("message") or (content[:200].decode("utf-8", "replace") if content else "")
    inner = err.get("innerError") or err.get("innererror") or {}
    return code, message, inner.get("request-id") if isinstance(inner, dict) else None


class GraphClient:
    """One per run and event loop. ``base`` is the cloud's Graph endpoint (no /v1.0)."""

    def __init__(self, cloud: Cloud, credential, policy: RetryPolicy, verify: str | None = None):
        self.cloud = cloud
        self.base = f"{cloud.graph}/v1.0"
        self.credential = credential
        self.policy = policy
        self.verify = verify
        self._adapter = None
        self.requests = 0

    # --- transport ------------------------------------------------------------------------------
    def _build_adapter(self):
        import ssl

        import httpx
        from kiota_authentication_azure.azure_identity_authentication_provider import \
            AzureIdentityAuthenticationProvider
        from kiota_http.middleware.options import RetryHandlerOption
        from msgraph import GraphServiceClient
        from msgraph.graph_request_adapter import GraphRequestAdapter
        from msgraph.graph_request_adapter import options as graph_options
        from msgraph_core import GraphClientFactory

        # NOTE: HTTPX docs, "Environment Variables": httpx trusts SSL_CERT_FILE / SSL_CERT_DIR but
        # not requests' REQUESTS_CA_BUNDLE, so the CA bundle is given to httpx explicitly.
        verify: Any = True
        if self.verify:
            verify = ssl.create_default_context(cafile=self.verify)
        http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0), http2=True, verify=verify)
        options = dict(graph_options)
        options[RetryHandlerOption.get_key()] = RetryHandlerOption(
            delay=min(3.0, max(self.policy.base_delay, 0.0)), max_retries=3, should_retry=True)
        http = GraphClientFactory.create_with_default_middleware(client=http, options=options)
        auth = AzureIdentityAuthenticationProvider(self.credential, scopes=[self.cloud.graph_scope])
        client = GraphServiceClient(request_adapter=GraphRequestAdapter(auth, client=http))
        client.request_adapter.base_url = self.base
        return client.request_adapter

    async def close(self) -> None:
        if self._adapter is not None:
            try:
                await self._adapter._http_client.aclose()
            except Exception:  # noqa: BLE001 - closing must never mask the command's outcome
                pass
            self._adapter = None

    def url(self, path: str, params: dict | None = None) -> str:
        url = path if path.startswith("https://") else self.base + path
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, quote_via=quote, safe="$,'()=")
        return url

    async def send(self, method: str, path: str, *, params: dict | None = None, body: Any = None,
                   headers: dict[str, str] | None = None) -> GraphResponse:
        """One request (the middleware may repeat it on 429/503/504); raises GraphError."""
        import httpx
        from kiota_abstractions.method import Method
        from kiota_abstractions.native_response_handler import NativeResponseHandler
        from kiota_abstractions.request_information import RequestInformation
        from kiota_http.middleware.options import ResponseHandlerOption

        if self._adapter is None:
            self._adapter = self._build_adapter()
        url = self.url(path, params)
        info = RequestInformation(Method[method])
        info.url = url
        info.headers.add("Accept", "application/json")
        for name, value in (headers or {}).items():
            info.headers.add(name, value)
        if body is not None:
            info.set_stream_content(json.dumps(body).encode(), "application/json")
        info.add_request_options([ResponseHandlerOption(NativeResponseHandler())])
        started = time.monotonic()
        self.requests += 1
        try:
            response = await self._adapter.send_primitive_async(info, "bytes", None)
        except CliError:
            raise
        except (httpx.TransportError, OSError) as exc:
            log.debug("%s %s -> %s (%.0f ms)", method, url, type(exc).__name__,
                      (time.monotonic() - started) * 1000)
            if method != "GET":
                audit.record(method, url, None, "unknown")   # sent, never answered
            raise api_error(f"cannot reach Microsoft Graph at {self.cloud.graph}: {type(exc).__name__} {exc}",
                            code="EndpointUnreachable",
                            fix="check the network, --cloud / ENTRA_BOOTSTRAP_GRAPH_ENDPOINT and the CA "
                                "bundle (REQUESTS_CA_BUNDLE)") from None
        status = response.status_code
        log.debug("%s %s -> %d (%.0f ms)", method, url, status, (time.monotonic() - started) * 1000)
        if method != "GET":
            audit.record(method, url, status, "succeeded" if status < 400 else "failed")
        content = response.content
        if status >= 400:
            code, message, request_id = _parse_error(status, content, response.headers)
            raise GraphError(status, code, message, method=method, url=url,
                             retry_after=_retry_after(response.headers), request_id=request_id)
        parsed = None
        if content:
            try:
                parsed = json.loads(content)
            except ValueError:
                raise api_error(f"Microsoft Graph answered {method} {url} with a body that is not JSON",
                                code="BadResponse") from None
        return GraphResponse(status, parsed, dict(response.headers))

    # --- calls with retries and user-facing errors ----------------------------------------------
    async def call(self, method: str, path: str, *, params: dict | None = None, body: Any = None,
                   headers: dict[str, str] | None = None, obj: str | None = None,
                   needs: str | None = None, missing_ok: bool = False,
                   lookup: bool = False, replicating: bool = False,
                   exists_ok: Callable[[GraphError], bool] | None = None) -> GraphResponse | None:
        """``send`` with classified retries; errors become CliError.

        ``missing_ok``: a 404 returns None. ``lookup``: a 404 is re-read a few times first (a new
        object may not have replicated yet). ``replicating``: the object was just read or written,
        so a 404 is replication delay and retried within the full budget. ``exists_ok(err)``: the
        error means the write was already applied (e.g. by an earlier run whose response was lost);
        returns None and the caller re-reads.
        """

        def retry_on(exc: Exception) -> str | None:
            if not isinstance(exc, GraphError):
                return None
            return classify(exc, not_found_is_replication=lookup or replicating)

        attempts = self.policy.lookup_attempts if lookup and not replicating else None
        try:
            return await with_retries(lambda: self.send(method, path, params=params, body=body,
                                                        headers=headers),
                                      what=f"{method} {path}", policy=self.policy, retry_on=retry_on,
                                      attempts=attempts)
        except GraphError as exc:
            if exc.status == 404 and missing_ok:
                return None
            if exists_ok is not None and exists_ok(exc):
                log.info("%s %s: already done (%s %s)", method, path, exc.status, exc.code)
                return None
            raise to_cli_error(exc, obj=obj, needs=needs) from None

    async def get(self, path: str, **kw) -> dict | None:
        response = await self.call("GET", path, **kw)
        return None if response is None else response.body

    async def list(self, path: str, *, params: dict | None = None, **kw) -> list[dict]:
        """Every item of a collection, following @odata.nextLink."""
        items: list[dict] = []
        url: str | None = path
        while url:
            response = await self.call("GET", url, params=params, **kw)
            if response is None:
                return items
            body = response.body or {}
            items.extend(body.get("value", []))
            url, params = body.get("@odata.nextLink"), None
        return items


def to_cli_error(exc: GraphError, *, obj: str | None = None, needs: str | None = None) -> CliError:
    """A Graph error as the user sees it: exit 3 for 401/403, 4 for 404, 1 otherwise."""
    where = f"{exc.method} {exc.url.split('?')[0]}"
    message = f"{exc.message} ({where})" if exc.message else where
    if exc.status == 401:
        return auth_error(f"Microsoft Graph refused the operator's token: {message}", code=exc.code,
                          object=obj, status=401,
                          fix="check the tenant and the operator's credentials (--tenant, AZURE_TENANT_ID)")
    if exc.status == 403:
        fix = (f"grant the operator the Microsoft Graph application permission {needs} (with admin consent)"
               if needs else "grant the operator the Microsoft Graph permission this step needs "
                             "(see README, section 'Permissions the operator needs')")
        return auth_error(f"the operator is not allowed to do this: {message}", code=exc.code,
                          object=obj, status=403, fix=fix)
    if exc.status == 404:
        return not_found(f"not found: {message}", code=exc.code, object=obj, status=404,
                         fix="check the name or id; a just-created object may take a minute to replicate")
    reason = classify(exc, not_found_is_replication=True)
    fix = None
    if reason == REPLICATION:
        fix = ("Entra ID had not replicated a new object in time; run the command again, or raise "
               "ENTRA_BOOTSTRAP_RETRY_MAX_TIME")
    elif exc.status in (429, 503, 504):
        fix = "Microsoft Graph is throttling or unavailable; run the command again later"
    return api_error(message, code=exc.code, object=obj, status=exc.status, fix=fix)
