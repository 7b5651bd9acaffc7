"""Handlers of ``/directoryObjects``: get one by id, and ``POST /directoryObjects/getByIds`` (a POST
that only reads: ``http.READ_ONLY_GRAPH_ACTIONS``).
Source: Microsoft Graph: "Get directoryObject", "directoryObject: getByIds".
"""

from __future__ import annotations

from aiohttp import web

from ..http import json_response
from . import models
from .context import Ctx, entity_response
from .errors import bad_request, not_found

MAX_IDS = 1000


async def get_directory_object(ctx: Ctx, oid) -> web.Response:
    obj = models.directory_object(ctx, str(oid)) if isinstance(oid, str) else None
    if obj is None or not models.visible(ctx.world, obj["id"]):
        raise not_found(str(oid))
    return entity_response(ctx, "directoryObjects", obj)


async def get_by_ids(ctx: Ctx) -> web.Response:
    body = await ctx.body()
    ids, types = body.get("ids"), body.get("types")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise bad_request("Invalid value specified for property 'ids'.")
    if len(ids) > MAX_IDS:
        raise bad_request(f"Too many ids specified: the maximum is {MAX_IDS}.")
    wanted = {f"#microsoft.graph.{t}".lower() for t in types or []}
    found = []
    for oid in ids:
        obj = models.directory_object(ctx, oid)
        if obj is not None and (not wanted or obj["@odata.type"].lower() in wanted):
            found.append(obj)
    return json_response({"@odata.context": f"{ctx.base}/$metadata#directoryObjects",
                          "value": found})
