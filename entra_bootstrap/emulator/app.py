"""The composition root: builds the aiohttp application of one emulator run — its state, its
middlewares — and mounts the route tables of ``control``, ``tokens``, ``graph`` and ``arm``.

Order of the middlewares, outermost first:
  1. request log  — every non-control request is logged as {"method", "path", "status"}
  2. faults       — latency and injected 429/503 (``faults.fault_middleware``)
  3. errors       — ``ApiError`` becomes Azure's wire shape; anything unexpected a 500
  4. writes       — counting writes, saving, dropped responses (``faults.write_middleware``)
Anything no route matches answers 501 naming the route (``http.not_emulated``).
"""

from __future__ import annotations

import logging
import random

from aiohttp import web

from . import control
from .arm import routes as arm_routes
from .errors import ApiError
from .faults import fault_middleware, write_middleware
from .graph import routes as graph_routes
from .http import CONTROL_PREFIX, REQUEST_LOG, RNG, WORLD, WRITES, api_error, not_emulated
from .http import is_write  # noqa: F401 - re-exported: tests and demo.py import it from here
from .state import World
from .tokens import routes as tokens_routes

log = logging.getLogger("entra_bootstrap.emulator")


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
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.to_response()
    except web.HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - an emulator bug must still answer like a server
        log.exception("unhandled error on %s %s", request.method, request.path_qs)
        return api_error(request.path, 500, "InternalServerError",
                         f"emulator error: {type(exc).__name__}: {exc}").to_response()


def make_app(world: World, seeded: dict) -> web.Application:
    app = web.Application(middlewares=[log_middleware, fault_middleware, error_middleware,
                                       write_middleware], client_max_size=4 * 1024 * 1024)
    app[WORLD] = world
    app[REQUEST_LOG] = []
    app[RNG] = random.Random(world.faults.fault_seed)
    app[WRITES] = {"count": 0}
    control.add_routes(app, seeded)
    # Tokens before ARM: its cloud-metadata route must win over ARM's catch-all.
    tokens_routes.add_routes(app)
    graph_routes.add_routes(app)
    arm_routes.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", not_emulated)
    return app
