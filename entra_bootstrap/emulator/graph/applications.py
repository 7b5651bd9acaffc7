"""Handlers of ``/applications``: list, create, get, upsert/update (``PATCH
/applications(uniqueName='…')`` with ``Prefer: create-if-missing``), delete. Apps are addressed by
id or by the alternate keys ``(appId='…')`` / ``(uniqueName='…')``.
Source: Microsoft Graph: "List applications", "Create application", "Get application", "Upsert
application (PATCH /applications(uniqueName='{uniqueName}'))", "Update application", "Delete application".
"""

from __future__ import annotations

from aiohttp import web

from . import models
from .context import Ctx, collection_response, entity_response, no_content
from .models import Ref
from .permissions import APP_WRITE

TYPE = "microsoft.graph.application"
FILTERABLE = ["id", "appId", "uniqueName", "displayName", "identifierUris", "signInAudience",
              "tags", "publisherDomain", "createdDateTime"]
KNOWN = set(models.APP_DEFAULTS) | {"id", "appId", "displayName", "createdDateTime"}


async def list_applications(ctx: Ctx) -> web.Response:
    return collection_response(ctx, "applications", models.visible_apps(ctx), filterable=FILTERABLE,
                               type_name=TYPE, known=KNOWN)


async def create_application(ctx: Ctx) -> web.Response:
    app = models.create_application(ctx, await ctx.body())
    return entity_response(ctx, "applications", models.app_view(app), 201)


async def get_application(ctx: Ctx, ref: Ref) -> web.Response:
    app = models.resolve_app(ctx, ref)
    ctx.require_read(owned=(app["id"],))
    return entity_response(ctx, "applications", models.app_view(app), type_name=TYPE)


async def patch_application(ctx: Ctx, ref: Ref) -> web.Response:
    body = await ctx.body()
    if models.is_unique_name(ref) and ctx.prefer_create():
        # Graph's key index is consistent: an upsert never duplicates a lagging app.
        app = models.find_app(ctx, ref)
        if app is None:
            app = models.create_application(ctx, body, unique_name=ref.value)
            return entity_response(ctx, "applications", models.app_view(app), 201)
    else:
        app = models.resolve_app(ctx, ref)
    ctx.require(APP_WRITE, owned=(app["id"],))
    models.update_application(ctx, app, body)
    return no_content()


async def delete_application(ctx: Ctx, ref: Ref) -> web.Response:
    app = models.resolve_app(ctx, ref)
    ctx.require(APP_WRITE, owned=(app["id"],))
    models.delete_application(ctx, app)
    return no_content()
