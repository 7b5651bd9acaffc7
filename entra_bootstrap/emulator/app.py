"""Routing and the cross-cutting behaviour of every emulated request.

Order of the middlewares, outermost first:
  1. request log  — every non-control request is logged as {"method", "path", "status"}
  2. faults       — ``latency_ms`` delays every response; ``fault_rate`` answers that share of
                    Graph/ARM requests 429 or 503 (both with Retry-After), chosen by the seeded RNG
  3. errors       — ``ApiError`` becomes Azure's wire shape; anything unexpected a 500
  4. writes       — counts successful writes (POST/PUT/PATCH/DELETE on Graph and ARM, except
                    POST actions that only read, e.g. directoryObjects/getByIds) and, on
                    the ``drop_response_after_write``-th, applies it then closes the connection
Anything no route matches answers 501 naming the route: gaps are loud, never a silent success.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from urllib.parse import unquote

from aiohttp import web

from .errors import ApiError, arm_error, graph_error
from .state import World

log = logging.getLogger("entra_bootstrap.emulator")

CONTROL_PREFIX = "/_emulator"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

WORLD = web.AppKey("world", World)
REQUEST_LOG = web.AppKey("request_log", list)
RNG = web.AppKey("rng", random.Random)
WRITES = web.AppKey("writes", dict)


def world_of(request: web.Request) -> World:
    return request.app[WORLD]


def flavor_of(path: str) -> str:
    if path.startswith("/graph/"):
        return "graph"
    if path.startswith("/arm/"):
        return "arm"
    return "other"


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


@web.middleware
async def log_middleware(request: web.Request, handler):
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    entry = {"method": request.method, "path": request.path_qs, "status": None}
    request.app[REQUEST_LOG].append(entry)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        entry["status"] = exc.status
        raise
    entry["status"] = response.status
    return response


@web.middleware
async def fault_middleware(request: web.Request, handler):
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    faults = world_of(request).faults
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    flavor = flavor_of(request.path)
    # Only Graph and ARM requests draw from the RNG, so token requests never shift which API
    # request a given --fault-seed hits.
    if (faults.fault_rate and flavor in ("graph", "arm")
            and request.app[RNG].random() < faults.fault_rate):
        throttle = request.app[RNG].random() < 0.5
        if throttle:
            err = (arm_error if flavor == "arm" else graph_error)(
                429, "TooManyRequests", "Too many requests, retry after 1 second.",
                headers={"Retry-After": "1"})
        else:
            err = (arm_error if flavor == "arm" else graph_error)(
                503, "ServiceUnavailable", "The service is temporarily unavailable.",
                headers={"Retry-After": "1"})
        return err.to_response()
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.to_response()
    except web.HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - an emulator bug must still answer like a server
        log.exception("unhandled error on %s %s", request.method, request.path_qs)
        flavor = flavor_of(request.path)
        err = (arm_error if flavor == "arm" else graph_error)(
            500, "InternalServerError", f"emulator error: {type(exc).__name__}: {exc}")
        return err.to_response()


@web.middleware
async def write_middleware(request: web.Request, handler):
    response = await handler(request)
    if not is_api_write(request) or response.status >= 400:
        return response
    world = world_of(request)
    counter = request.app[WRITES]
    counter["count"] = counter.get("count", 0) + 1
    world.save_soon()       # coalesced: on disk within ~50 ms, and at exit (state.World.save_soon)
    drop_at = world.faults.drop_response_after_write
    if drop_at is not None and counter["count"] >= drop_at:
        # The write is applied (and saved soon); the client never hears about it. One-shot; the count
        # restarts whenever the knob is set (control.py). Aborting the transport closes the TCP
        # connection at once (the client sees a connection reset / "closed without response");
        # CancelledError stops aiohttp from writing the response and leaves the log status null.
        world.faults.drop_response_after_write = None
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError()
    return response


async def not_emulated(request: web.Request) -> web.Response:
    flavor = flavor_of(request.path)
    msg = (f"The emulator does not emulate {request.method} {request.path}. "
           "See README.md, section 'The emulator', for the routes it serves.")
    err = (arm_error if flavor == "arm" else graph_error)(501, "NotImplemented", msg)
    return err.to_response()


def json_response(body, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=headers)


def make_app(world: World, seeded: dict) -> web.Application:
    from . import arm, control, graph, tokens

    app = web.Application(middlewares=[log_middleware, fault_middleware, error_middleware,
                                       write_middleware], client_max_size=4 * 1024 * 1024)
    app[WORLD] = world
    app[REQUEST_LOG] = []
    app[RNG] = random.Random(world.faults.fault_seed)
    app[WRITES] = {"count": 0}
    control.add_routes(app, seeded)
    tokens.add_routes(app)
    graph.add_routes(app)
    arm.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", not_emulated)
    return app
