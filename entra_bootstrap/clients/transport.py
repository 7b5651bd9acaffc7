"""The async HTTP transport of the azure-core pipelines (azure-identity credentials, ARM clients): httpx.

azure-core's default async transport is aiohttp's, whose import costs ~0.1 s per process; httpx is
loaded anyway for Microsoft Graph (msgraph-sdk / kiota), so the azure-core pipelines send through
an ``httpx.AsyncClient`` too. Only the transport changes: every policy of the pipelines (bearer
token, ARM challenge, retry, redirect, user agent, logging hooks) and the LRO pollers are the SDKs'.

Errors are raised as azure-core raises them for aiohttp: a failure to connect or a connection lost
before the answer is ``ServiceRequestError``, a connect timeout ``ServiceRequestTimeoutError``, a
read timeout ``ServiceResponseTimeoutError``, a body that cannot be read ``ServiceResponseError``.
Also: one SSL context per transport (azure-core's aiohttp transport builds one per request when
given a CA bundle path, which defeats keep-alive: a TLS handshake per request).
"""

from __future__ import annotations

from typing import Any

import httpx
from azure.core.exceptions import (ServiceRequestError, ServiceRequestTimeoutError, ServiceResponseError,
                                   ServiceResponseTimeoutError)
from azure.core.pipeline._tools import is_rest
from azure.core.pipeline.transport import AsyncHttpResponse as LegacyAsyncHttpResponse
from azure.core.pipeline.transport import AsyncHttpTransport
from azure.core.rest._http_response_impl_async import AsyncHttpResponseImpl

DEFAULT_TIMEOUT = 300.0      # azure-core's connection and read timeouts


def _mapped(exc: Exception) -> Exception:
    """An httpx error as azure-core's aiohttp transport would have raised it."""
    if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return ServiceRequestTimeoutError(exc, error=exc)
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return ServiceResponseTimeoutError(exc, error=exc)
    if isinstance(exc, httpx.ConnectError):      # worded like aiohttp's: the host, then the cause
        try:
            url = exc.request.url
            where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        except RuntimeError:                        # no request attached
            where = "?"
        return ServiceRequestError(f"Cannot connect to host {where} [{exc or type(exc).__name__}]", error=exc)
    if isinstance(exc, httpx.TransportError):
        return ServiceRequestError(exc, error=exc)
    return ServiceResponseError(exc, error=exc)


async def _stream_download(response, pipeline: Any = None, decompress: bool = True, **kwargs: Any):
    internal: httpx.Response = (response._internal_response if isinstance(response, _Response)   # noqa: SLF001
                                else response.internal_response)
    chunks = internal.aiter_bytes() if decompress else internal.aiter_raw()
    try:
        async for chunk in chunks:
            yield chunk
    except httpx.HTTPError as exc:
        raise _mapped(exc) from exc


class _Response(AsyncHttpResponseImpl):
    def __init__(self, request, internal: httpx.Response):
        super().__init__(request=request, internal_response=internal, status_code=internal.status_code,
                         reason=internal.reason_phrase, headers=internal.headers,
                         content_type=internal.headers.get("content-type"),
                         stream_download_generator=_stream_download)

    async def close(self) -> None:
        if not self.is_closed:
            self._is_closed = True
            await self._internal_response.aclose()


class _LegacyResponse(LegacyAsyncHttpResponse):
    """The response to a legacy ``azure.core.pipeline.transport.HttpRequest`` (older generated SDKs,
    e.g. azure-mgmt-containerinstance 10), as azure-core's ``AioHttpTransportResponse`` is."""

    def __init__(self, request, internal: httpx.Response):
        super().__init__(request, internal)
        self.status_code = internal.status_code
        self.headers = internal.headers
        self.reason = internal.reason_phrase
        self.content_type = internal.headers.get("content-type")
        self._content: bytes | None = None

    def body(self) -> bytes:
        if self._content is None:
            raise ValueError("Body is not available. Call async method load_body, or do your call with "
                             "stream=False.")
        return self._content

    async def load_body(self) -> None:
        try:
            self._content = await self.internal_response.aread()
        except httpx.HTTPError as exc:
            raise _mapped(exc) from exc

    def stream_download(self, pipeline, *, decompress: bool = True, **kwargs: Any):
        return _stream_download(self, pipeline, decompress=decompress)

    async def close(self) -> None:
        await self.internal_response.aclose()


class HttpxTransport(AsyncHttpTransport):
    """An azure-core ``AsyncHttpTransport`` over one ``httpx.AsyncClient`` (opened on first use)."""

    def __init__(self, verify: str | None = None):
        self._verify = verify
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> "HttpxTransport":
        await self.open()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.close()

    async def open(self) -> None:
        if self._client is None:
            import ssl

            # As azure-core's aiohttp transport: the CA bundle given, else the system's trust store
            # (httpx's own default would be certifi's).
            verify = (ssl.create_default_context(cafile=self._verify) if self._verify
                      else ssl.create_default_context())
            self._client = httpx.AsyncClient(verify=verify, follow_redirects=False, trust_env=True,
                                             timeout=httpx.Timeout(DEFAULT_TIMEOUT))

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def send(self, request, *, stream: bool = False, **config: Any):
        await self.open()
        rest = is_rest(request)
        if getattr(request, "files", None):
            raise ValueError("multipart requests are not supported by this transport")
        content = request.content if rest else request.data
        if isinstance(content, dict):       # a form (azure-identity's token requests)
            from urllib.parse import urlencode
            content = urlencode(content, doseq=True)
        timeout = httpx.Timeout(config.pop("read_timeout", DEFAULT_TIMEOUT),
                                connect=config.pop("connection_timeout", DEFAULT_TIMEOUT))
        built = self._client.build_request(request.method, request.url, headers=dict(request.headers.items()),
                                           content=content, timeout=timeout)
        try:
            internal = await self._client.send(built, stream=True)
        except httpx.HTTPError as exc:
            raise _mapped(exc) from exc
        if not rest:
            legacy = _LegacyResponse(request, internal)
            if not stream:
                await legacy.load_body()
            return legacy
        response = _Response(request, internal)
        if not stream:
            try:
                await response.read()
            except httpx.HTTPError as exc:
                raise _mapped(exc) from exc
        return response
