"""The fault knobs applied to emulated Graph and ARM requests (``state.Faults``, set by CLI flags
and ``POST /_emulator/faults``), as two middlewares:

  fault_middleware  ``latency_ms`` delays every response; ``fault_rate`` answers that share of
                    Graph/ARM requests 429 or 503 (both with Retry-After), chosen by the seeded RNG
  write_middleware  counts successful writes (POST/PUT/PATCH/DELETE on Graph and ARM, except POST
                    actions that only read, e.g. directoryObjects/getByIds), schedules the state
                    save and, on the ``drop_response_after_write``-th, applies the write then
                    closes the connection without an answer
Control requests (``/_emulator``) are never delayed or failed.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from .http import CONTROL_PREFIX, RNG, WRITES, api_error, flavor_of, is_api_write, world_of


@web.middleware
async def fault_middleware(request: web.Request, handler):
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    faults = world_of(request).faults
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    # Only Graph and ARM requests draw from the RNG, so token requests never shift which API
    # request a given --fault-seed hits.
    if (faults.fault_rate and flavor_of(request.path) in ("graph", "arm")
            and request.app[RNG].random() < faults.fault_rate):
        if request.app[RNG].random() < 0.5:
            err = api_error(request.path, 429, "TooManyRequests",
                            "Too many requests, retry after 1 second.", headers={"Retry-After": "1"})
        else:
            err = api_error(request.path, 503, "ServiceUnavailable",
                            "The service is temporarily unavailable.", headers={"Retry-After": "1"})
        return err.to_response()
    return await handler(request)


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
