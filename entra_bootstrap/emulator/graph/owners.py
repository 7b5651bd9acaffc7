"""Handlers of the owners of applications and service principals (``collection`` is
"applications" or "servicePrincipals"): ``GET …/owners``, ``POST …/owners/$ref``,
``DELETE …/owners/{id}/$ref``.
Source: Microsoft Graph: "List owners of an application", "Add owner", "Remove owner" (and the
servicePrincipal equivalents).
"""

from __future__ import annotations

from aiohttp import web

from . import models
from .context import Ctx, collection_response, no_content
from .models import Ref
from .permissions import APP_READ, APP_WRITE


async def list_owners(ctx: Ctx, ref: Ref, *, collection: str) -> web.Response:
    obj = models.resolve_owned(ctx, collection, ref, APP_READ)
    return collection_response(ctx, "directoryObjects", models.owners_of(ctx, obj),
                               filterable=["id", "displayName"],
                               type_name="microsoft.graph.directoryObject")


async def add_owner(ctx: Ctx, ref: Ref, *, collection: str) -> web.Response:
    obj = models.resolve_owned(ctx, collection, ref, APP_WRITE)
    body = await ctx.body()
    models.add_owner(ctx, obj, body.get("@odata.id"))
    return no_content()


async def remove_owner(ctx: Ctx, ref: Ref, oid: str, *, collection: str) -> web.Response:
    obj = models.resolve_owned(ctx, collection, ref, APP_WRITE)
    models.remove_owner(ctx, obj, oid)
    return no_content()
