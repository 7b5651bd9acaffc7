"""The test controls, apart from the emulated APIs (issue 2, "Control API"), all under ``/_emulator``:

  GET  /_emulator/requests        the request log: [{"method", "path" (with query), "status"}] in
                                  arrival order; control calls are not logged; ``status`` is null
                                  for a response dropped by ``drop_response_after_write``
  POST /_emulator/requests/clear  empty the log
  GET  /_emulator/state           all state as JSON (what ``--state FILE`` holds)
  PUT  /_emulator/state           replace all state with the body (a dump from GET, edited): sets
                                  up a scenario in one call; replication lag is forgotten
  POST /_emulator/reset           restore the seeded world (same ids and secrets), forget lag
  GET  /_emulator/faults          the current knobs
  POST /_emulator/faults          any subset of {"latency_ms", "replication_lag", "fault_rate",
                                  "fault_seed", "drop_response_after_write",
                                  "token_lifetime_s"}; answers the knobs
A bad body answers 400 ``{"error": {"code": "BadRequest", "message": ...}}`` naming the field.
"""

from __future__ import annotations

import json
import random

from aiohttp import web

from .http import REQUEST_LOG, RNG, WRITES, json_response, world_of
from .state import REQUIRED_STATE_KEYS, Faults

PREFIX = "/_emulator"


def _bad(message: str) -> web.Response:
    return json_response({"error": {"code": "BadRequest", "message": message}}, 400)


def _int(name: str, value, minimum: int, nullable: bool):
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "an integer" + (f" >= {minimum}" if minimum else "") + (" or null" if nullable else "")
        raise ValueError(f"'{name}' must be {kind}, got {json.dumps(value)}.")
    return value


def _rate(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"'fault_rate' must be a number from 0 to 1, got {json.dumps(value)}.")
    return float(value)


# field -> validator(value) -> parsed value
_FAULT_FIELDS = {
    "latency_ms": lambda v: _int("latency_ms", v, 0, False),
    "replication_lag": lambda v: _int("replication_lag", v, 0, False),
    "fault_rate": _rate,
    "fault_seed": lambda v: _int("fault_seed", v, -(2 ** 63), True),
    "drop_response_after_write": lambda v: _int("drop_response_after_write", v, 1, True),
    # The lifetime of every token issued from now (managed identity and app tokens); null: the
    # usual ones. NOTE: Entra's configurable token lifetimes ("Configurable token lifetimes in the
    # Microsoft identity platform") allow 10 minutes to 1 day for access tokens; the emulator takes
    # any lifetime >= 1 s so that a refresher can be tested in seconds.
    "token_lifetime_s": lambda v: _int("token_lifetime_s", v, 1, True),
}


def faults_json(faults: Faults) -> dict:
    return {name: getattr(faults, name) for name in _FAULT_FIELDS}


def add_routes(app: web.Application, seeded: dict) -> None:
    async def get_requests(request: web.Request) -> web.Response:
        return json_response(request.app[REQUEST_LOG])

    async def clear_requests(request: web.Request) -> web.Response:
        request.app[REQUEST_LOG].clear()
        return json_response({"cleared": True})

    async def get_state(request: web.Request) -> web.Response:
        return web.Response(text=world_of(request).dump(), content_type="application/json")

    async def put_state(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text() or "null")
        except json.JSONDecodeError as exc:
            return _bad(f"The body is not JSON ({exc.msg}). Send a state as GET /_emulator/state "
                        "returns it.")
        missing = [k for k in REQUIRED_STATE_KEYS if not isinstance(body, dict) or k not in body]
        if missing:
            return _bad(f"The body is not an emulator state (missing {', '.join(missing)}). Send a "
                        "state as GET /_emulator/state returns it.")
        world = world_of(request)
        world.data = body
        world.lag.clear()
        world.save()
        return json_response({"replaced": True})

    async def reset(request: web.Request) -> web.Response:
        world = world_of(request)
        world.reset(seeded)
        request.app[WRITES]["count"] = 0
        world.save()
        return json_response({"reset": True})

    async def get_faults(request: web.Request) -> web.Response:
        return json_response(faults_json(world_of(request).faults))

    async def set_faults(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text() or "null")
        except json.JSONDecodeError as exc:
            return _bad(f"The body is not JSON ({exc.msg}). Send a JSON object such as "
                        '{"latency_ms": 50}.')
        if not isinstance(body, dict):
            return _bad("The body must be a JSON object with any of: " + ", ".join(_FAULT_FIELDS) + ".")
        unknown = sorted(set(body) - set(_FAULT_FIELDS))
        if unknown:
            return _bad(f"Unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_FAULT_FIELDS)}.")
        try:
            parsed = {name: _FAULT_FIELDS[name](value) for name, value in body.items()}
        except ValueError as exc:
            return _bad(str(exc))
        faults = world_of(request).faults
        for name, value in parsed.items():
            setattr(faults, name, value)
        if "fault_seed" in parsed:
            request.app[RNG] = random.Random(parsed["fault_seed"])
        if "drop_response_after_write" in parsed:
            # Counted from now: N means "the N-th successful write after this call".
            request.app[WRITES]["count"] = 0
        return json_response(faults_json(faults))

    r = app.router
    r.add_get(PREFIX + "/requests", get_requests)
    r.add_post(PREFIX + "/requests/clear", clear_requests)
    r.add_get(PREFIX + "/state", get_state)
    r.add_put(PREFIX + "/state", put_state)
    r.add_post(PREFIX + "/reset", reset)
    r.add_get(PREFIX + "/faults", get_faults)
    r.add_post(PREFIX + "/faults", set_faults)
