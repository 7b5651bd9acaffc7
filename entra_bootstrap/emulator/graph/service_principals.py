"""Handlers of ``/servicePrincipals``: list, create, get, upsert/update (``PATCH
/servicePrincipals(appId='…')`` with ``Prefer: create-if-missing``), delete.
Source: Microsoft Graph: "List servicePrincipals", "Create servicePrincipal", "Get
servicePrincipal", "Upsert servicePrincipal", "Update servicePrincipal", "Delete servicePrincipal".
"""

from __future__ import annotations

from aiohttp import web

from . import models
from .context import Ctx, collection_response, entity_response, no_content
from .models import Key, Ref
from .permissions import APP_WRITE

TYPE = "microsoft.graph.servicePrincipal"
FILTERABLE = ["id", "appId", "displayName", "servicePrincipalType", "servicePrincipalNames",
              "tags", "accountEnabled", "appOwnerOrganizationId", "alternativeNames"]
KNOWN = set(models.SP_DEFAULTS) | {"id", "appId"}


async def list_sps(ctx: Ctx) -> web.Response:
    return collection_response(ctx, "servicePrincipals", models.visible_sps(ctx),
                               filterable=FILTERABLE, type_name=TYPE, known=KNOWN)


async def create_sp(ctx: Ctx) -> web.Response:
    body = await ctx.body()
    sp = models.create_sp(ctx, body, body.get("appId"))
    return entity_response(ctx, "servicePrincipals", models.sp_view(ctx, sp), 201)


async def get_sp(ctx: Ctx, ref: Ref) -> web.Response:
    sp = models.resolve_sp(ctx, ref)
    ctx.require_read(owned=models.sp_owned_ids(ctx, sp))
    return entity_response(ctx, "servicePrincipals", models.sp_view(ctx, sp), type_name=TYPE)


async def patch_sp(ctx: Ctx, ref: Ref) -> web.Response:
    body = await ctx.body()
    if isinstance(ref, Key) and ctx.prefer_create():
        # Graph's key index is consistent: an upsert never duplicates a lagging SP.
        sp = models.find_sp(ctx, ref)
        if sp is None:
            sp = models.create_sp(ctx, body, ref.value)
            return entity_response(ctx, "servicePrincipals", models.sp_view(ctx, sp), 201)
    else:
        sp = models.resolve_sp(ctx, ref)
    ctx.require(APP_WRITE, owned=models.sp_owned_ids(ctx, sp))
    models.update_sp(sp, body)
    return no_content()


async def delete_sp(ctx: Ctx, ref: Ref) -> web.Response:
    sp = models.resolve_sp(ctx, ref)
    ctx.require(APP_WRITE, owned=models.sp_owned_ids(ctx, sp))
    models.delete_service_principal(ctx, sp["id"])
    return no_content()
