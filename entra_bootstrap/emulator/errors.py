"""The wire-error catalog: Azure's exact status, code and body shape for each family of API.

Graph:  {"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}
ARM:    {"error": {"code", "message"}}
Entra token endpoint (AADSTS): {"error", "error_description", "error_codes", "timestamp",
        "trace_id", "correlation_id", "error_uri"}
Handlers raise ``ApiError``; the error middleware in ``app`` turns it into the response.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from aiohttp import web


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _aad_now() -> str:
    # NOTE: Entra writes "2023-02-20 07:21:29Z" (space, Z) in error_description and timestamp.
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


class ApiError(Exception):
    """An error answered on the wire. ``flavor`` picks the body shape: graph, arm or aad."""

    def __init__(self, status: int, code: str, message: str, *, flavor: str = "graph",
                 headers: dict[str, str] | None = None, aad_codes: list[int] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.flavor = flavor
        self.headers = dict(headers or {})
        self.aad_codes = aad_codes or []

    def body(self) -> dict:
        if self.flavor == "arm":
            return {"error": {"code": self.code, "message": self.message}}
        if self.flavor == "aad":
            trace = str(uuid.uuid4())
            return {
                "error": self.code,
                "error_description": f"{self.message}\r\nTrace ID: {trace}\r\n"
                                     f"Correlation ID: {uuid.uuid4()}\r\nTimestamp: {_aad_now()}",
                "error_codes": self.aad_codes,
                "timestamp": _aad_now(),
                "trace_id": trace,
                "correlation_id": str(uuid.uuid4()),
                "error_uri": "https://login.microsoftonline.com/error?code="
                             + (str(self.aad_codes[0]) if self.aad_codes else ""),
            }
        request_id = str(uuid.uuid4())
        return {"error": {"code": self.code, "message": self.message,
                          "innerError": {"date": _now(), "request-id": request_id,
                                         "client-request-id": request_id}}}

    def to_response(self) -> web.Response:
        return web.Response(status=self.status, text=json.dumps(self.body()),
                            content_type="application/json", headers=self.headers)


def graph_error(status: int, code: str, message: str, **kw) -> ApiError:
    return ApiError(status, code, message, flavor="graph", **kw)


def arm_error(status: int, code: str, message: str, **kw) -> ApiError:
    return ApiError(status, code, message, flavor="arm", **kw)


def aad_error(status: int, error: str, aadsts: int, message: str) -> ApiError:
    """``message`` without the prefix: the body says ``AADSTS<aadsts>: <message>`` like Entra."""
    return ApiError(status, error, f"AADSTS{aadsts}: {message}", flavor="aad", aad_codes=[aadsts])
