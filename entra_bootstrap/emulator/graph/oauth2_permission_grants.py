"""Handlers of ``/oauth2PermissionGrants`` (delegated permission grants): list, create, get, update
(``scope`` only), delete.
Source: Microsoft Graph: "List oauth2PermissionGrants", "Create oAuth2PermissionGrant", "Get
oAuth2PermissionGrant", "Update oAuth2PermissionGrant", "Delete oAuth2PermissionGrant".
"""

from __future__ import annotations

from aiohttp import web

from . import models
from .context import Ctx, collection_response, entity_response, no_content

TYPE = "microsoft.graph.oAuth2PermissionGrant"
FILTERABLE = ["id", "clientId", "resourceId", "consentType", "principalId"]


async def list_grants(ctx: Ctx) -> web.Response:
    grants = [dict(g) for g in ctx.graph["oauth2PermissionGrants"].values()]
    return collection_response(ctx, "oauth2PermissionGrants", grants, filterable=FILTERABLE,
                               type_name=TYPE, known=set(models.GRANT_FIELDS))


async def create_grant(ctx: Ctx) -> web.Response:
    grant = models.create_grant(ctx, await ctx.body())
    return entity_response(ctx, "oauth2PermissionGrants", dict(grant), 201)


async def get_grant(ctx: Ctx, grant_id: str) -> web.Response:
    return entity_response(ctx, "oauth2PermissionGrants", dict(models.find_grant(ctx, grant_id)),
                           type_name=TYPE)


async def patch_grant(ctx: Ctx, grant_id: str) -> web.Response:
    grant = models.find_grant(ctx, grant_id)
    models.update_grant(grant, await ctx.body())
    return no_content()


async def delete_grant(ctx: Ctx, grant_id: str) -> web.Response:
    models.delete_grant(ctx, models.find_grant(ctx, grant_id))
    return no_content()
