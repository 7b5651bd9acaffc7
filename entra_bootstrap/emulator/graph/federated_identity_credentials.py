"""Handlers of ``/applications/{id}/federatedIdentityCredentials``: list, create, get, upsert/update
(``PATCH …/federatedIdentityCredentials(name='…')`` with ``Prefer: create-if-missing``), delete.
Source: Microsoft Graph: "List federatedIdentityCredentials", "Create federatedIdentityCredential",
"Get federatedIdentityCredential", "Upsert federatedIdentityCredential", "Delete
federatedIdentityCredential".
"""

from __future__ import annotations

from aiohttp import web

from . import models
from .context import Ctx, collection_response, entity_response, no_content
from .models import Key, Ref
from .permissions import APP_READ, APP_WRITE

TYPE = "microsoft.graph.federatedIdentityCredential"
# subject (and name, audiences) are filterable; issuer is not (Microsoft Graph: "List
# federatedIdentityCredentials", Optional query parameters).
FILTERABLE = ["id", "name", "subject", "audiences"]


def _entity_set(app: dict) -> str:
    return f"applications('{app['id']}')/federatedIdentityCredentials"


def _app(ctx: Ctx, ref: Ref, full: frozenset) -> dict:
    app = models.resolve_app(ctx, ref)
    ctx.require(full, owned=(app["id"],))
    return app


async def list_fics(ctx: Ctx, ref: Ref) -> web.Response:
    app = _app(ctx, ref, APP_READ)
    return collection_response(ctx, _entity_set(app), [dict(f) for f in models.fics(ctx, app)],
                               filterable=FILTERABLE, type_name=TYPE,
                               known=models.FIC_FIELDS | {"id"})


async def create_fic(ctx: Ctx, ref: Ref) -> web.Response:
    app = _app(ctx, ref, APP_WRITE)
    fic = models.create_fic(ctx, app, await ctx.body())
    return entity_response(ctx, _entity_set(app), dict(fic), 201)


async def get_fic(ctx: Ctx, ref: Ref, fic_ref: Ref) -> web.Response:
    app = _app(ctx, ref, APP_READ)
    return entity_response(ctx, _entity_set(app), dict(models.resolve_fic(ctx, app, fic_ref)),
                           type_name=TYPE)


async def patch_fic(ctx: Ctx, ref: Ref, fic_ref: Ref) -> web.Response:
    app = _app(ctx, ref, APP_WRITE)
    body = await ctx.body()
    if isinstance(fic_ref, Key) and ctx.prefer_create():
        fic = models.find_fic(ctx, app, fic_ref)
        if fic is None:
            fic = models.create_fic(ctx, app, body, name=fic_ref.value)
            return entity_response(ctx, _entity_set(app), dict(fic), 201)
    else:
        fic = models.resolve_fic(ctx, app, fic_ref)
    models.update_fic(ctx, app, fic, body)
    return no_content()


async def delete_fic(ctx: Ctx, ref: Ref, fic_ref: Ref) -> web.Response:
    app = _app(ctx, ref, APP_WRITE)
    models.delete_fic(ctx, app, models.resolve_fic(ctx, app, fic_ref))
    return no_content()
