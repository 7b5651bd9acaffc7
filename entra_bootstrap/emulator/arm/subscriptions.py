"""Handlers of subscriptions and resource groups: ``GET /subscriptions[/{sub}]`` (the
subscriptions the caller has a role on) and ``GET|HEAD /subscriptions/{sub}/resourcegroups[/{rg}]``
(the groups it may read). Creating or deleting resource groups is not emulated.
Source: ARM: "Subscriptions - List", "Subscriptions - Get", "Resource Groups - List", "Resource
Groups - Get", "Resource Groups - Check Existence".
"""

from __future__ import annotations

import copy

from aiohttp import web

from ..http import json_response
from ..state import World
from .context import Ctx
from .rbac import allowed, authorization_failed, sees_subscription

def _subscription_json(world: World) -> dict:
    sub = world.data.get("subscription", {})
    return {"id": f"/subscriptions/{world.subscription_id}", "authorizationSource": "RoleBased",
            "managedByTenants": [], "subscriptionId": world.subscription_id,
            "tenantId": world.tenant_id, "displayName": sub.get("displayName", "Subscription"),
            "state": sub.get("state", "Enabled"),
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                     "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"}}


async def list_subscriptions(ctx: Ctx) -> web.Response:
    value = [_subscription_json(ctx.world)] if sees_subscription(ctx.world, ctx.caller_oid) else []
    return json_response({"value": value, "count": {"type": "Total", "value": len(value)}})


async def get_subscription(ctx: Ctx) -> web.Response:
    ctx.subscription()
    if not sees_subscription(ctx.world, ctx.caller_oid):
        raise authorization_failed(ctx.caller_oid, "Microsoft.Resources/subscriptions/read",
                                   f"/subscriptions/{ctx.match['sub']}")
    return json_response(_subscription_json(ctx.world))


RG_READ = "Microsoft.Resources/subscriptions/resourceGroups/read"


async def list_groups(ctx: Ctx) -> web.Response:
    ctx.subscription()
    # ARM lists the groups the caller may read (filtered, never 403).
    value = [copy.deepcopy(rg) for rg in ctx.world.arm["resource_groups"].values()
             if allowed(ctx.world, ctx.caller_oid, RG_READ, rg["id"])]
    return json_response({"value": value})


async def get_group(ctx: Ctx) -> web.Response:
    ctx.subscription()
    ctx.authorize(RG_READ, f"/subscriptions/{ctx.world.subscription_id}/resourceGroups/{ctx.match['rg']}")
    rg = ctx.group()
    if ctx.request.method == "HEAD":
        return web.Response(status=204)
    return json_response(copy.deepcopy(rg))
