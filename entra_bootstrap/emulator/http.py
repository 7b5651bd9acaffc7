"""The bottom layer every emulated route shares: the application keys (the world, the request log,
the fault RNG, the write counter), which API a path belongs to, which requests are writes, JSON
responses, and the 501 for what is not emulated.

Imports nothing of the emulator but ``errors`` and ``state``, so every other module may import it.
"""

from __future__ import annotations

import json
import random
from urllib.parse import unquote

from aiohttp import web

from .errors import ApiError, arm_error, graph_error
from .state import World

CONTROL_PREFIX = "/_emulator"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

WORLD = web.AppKey("world", World)
REQUEST_LOG = web.AppKey("request_log", list)
RNG = web.AppKey("rng", random.Random)
WRITES = web.AppKey("writes", dict)


def world_of(request: web.Request) -> World:
    return request.app[WORLD]


def flavor_of(path: str) -> str:
    """Which API a path belongs to: "graph", "arm" or "other" (tokens, IMDS, control)."""
    if path.startswith("/graph/"):
        return "graph"
    if path.startswith("/arm/"):
        return "arm"
    return "other"


def api_error(path: str, status: int, code: str, message: str, **kw) -> ApiError:
    """An error in the shape of the API ``path`` belongs to (ARM's for /arm, Graph's otherwise)."""
    return (arm_error if flavor_of(path) == "arm" else graph_error)(status, code, message, **kw)


# POST actions that only read: they change nothing, so they are not writes (not counted by
# ``drop_response_after_write``, no state save). Paths below /graph/v1.0, lowercased.
READ_ONLY_GRAPH_ACTIONS = frozenset({"directoryobjects/getbyids"})


def is_read_only_action(path: str) -> bool:
    """True for a POST route that only reads (``path`` as logged: with or without a query)."""
    p = unquote(path.split("?", 1)[0]).lower().rstrip("/")
    return p.startswith("/graph/v1.0/") and p[len("/graph/v1.0/"):] in READ_ONLY_GRAPH_ACTIONS


def is_write(method: str, path: str) -> bool:
    """A Graph or ARM request that may change state (token and control requests never do)."""
    return (method.upper() in WRITE_METHODS and flavor_of(path) in ("graph", "arm")
            and not is_read_only_action(path))


def is_api_write(request: web.Request) -> bool:
    return is_write(request.method, request.rel_url.raw_path)


def json_response(body, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=headers)


async def not_emulated(request: web.Request) -> web.Response:
    """501 naming the route: gaps are loud, never a silent success."""
    msg = (f"The emulator does not emulate {request.method} {request.path}. "
           "See README.md, section 'The emulator', for the routes it serves.")
    return api_error(request.path, 501, "NotImplemented", msg).to_response()
