"""HTTP in and out for every Graph handler: the request context ``Ctx`` (a ``models.Directory`` —
the world as the caller sees it — plus the request: query options, ``Prefer``, the JSON body) and
Graph's response shapes: an entity (``@odata.context`` …``/$entity``, ``$select``), a collection
(``$filter``, ``$select``, ``$top``/``$skiptoken`` paging with ``@odata.nextLink``) and 204.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from ..http import json_response
from .errors import unreadable_body
from .models import Directory
from .query import check_unsupported_options, compile_filter, offset_of, page_size, project, \
    select_fields, skip_token

PREFIX = "/graph/v1.0"


@dataclass
class Ctx(Directory):
    request: web.Request

    @property
    def base(self) -> str:
        """The v1.0 service root, as Graph writes it into @odata.context and nextLink."""
        return self.world.graph_url + "/v1.0"

    def query(self, name: str) -> str | None:
        return self.request.query.get(name)

    def prefer_create(self) -> bool:
        prefer = ",".join(self.request.headers.getall("Prefer", []))
        return any(p.strip().lower() == "create-if-missing" for p in prefer.split(","))

    async def body(self) -> dict:
        raw = await self.request.read()
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise unreadable_body()
        return body


def no_content() -> web.Response:
    return web.Response(status=204)


def context_url(ctx: Ctx, entity_set: str, select: list[str] | None = None,
                entity: bool = False) -> str:
    sel = f"({','.join(select)})" if select else ""
    return f"{ctx.base}/$metadata#{entity_set}{sel}" + ("/$entity" if entity else "")


def entity_response(ctx: Ctx, entity_set: str, item: dict, status: int = 200,
                    type_name: str | None = None) -> web.Response:
    select = select_fields(ctx.query("$select"), item, type_name=type_name)
    body = {"@odata.context": context_url(ctx, entity_set, select, entity=True)}
    body.update(project(item, select))
    return json_response(body, status)


def collection_response(ctx: Ctx, entity_set: str, items: list[dict], *, filterable: list[str],
                        type_name: str, known: set[str] | None = None) -> web.Response:
    """Filter, page and project ``items`` (already in Graph's JSON shape) like Graph's list APIs."""
    check_unsupported_options(ctx.request.query)
    flt = ctx.query("$filter")
    if flt:
        pred = compile_filter(flt, filterable, type_name)
        items = [i for i in items if pred(i)]
    select = select_fields(ctx.query("$select"), items[0] if items else None, known, type_name)
    size = page_size(ctx.query("$top"))
    offset = offset_of(ctx.query("$skiptoken"))
    page = items[offset:offset + size]
    body = {"@odata.context": context_url(ctx, entity_set, select)}
    if offset + size < len(items):
        params = [(k, v) for k, v in ctx.request.query.items() if k != "$skiptoken"]
        params.append(("$skiptoken", skip_token(offset + size)))
        body["@odata.nextLink"] = (ctx.base + ctx.request.rel_url.raw_path[len(PREFIX):] + "?"
                                   + urlencode(params, safe="$'(),:/"))
    body["value"] = [project(i, select) for i in page]
    return json_response(body)
