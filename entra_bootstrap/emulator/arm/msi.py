"""Handlers of user-assigned managed identities (Microsoft.ManagedIdentity): PUT is
create-or-update (201 / 200; principalId and clientId fixed at creation, with a ManagedIdentity
service principal in Graph), GET, DELETE, list by group and by subscription. Names follow ARM's
rule ``^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$``. Federated credentials on identities are not emulated.
Source: ARM: "User Assigned Identities - Create Or Update", "User Assigned Identities - Get",
"User Assigned Identities - Delete", "User Assigned Identities - List By Resource Group",
"User Assigned Identities - List By Subscription".
"""

from __future__ import annotations

import copy
import re

from aiohttp import web

from ..errors import arm_error
from ..http import json_response
from ..state import World, new_id
from .context import Ctx
from .identity import UAMI_TYPE
from .locations import check_location

UAMI_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}")



async def put_identity_resource(ctx: Ctx) -> web.Response:
    rid, old = ctx.target(UAMI_TYPE, f"{UAMI_TYPE}/write")
    name = ctx.match["name"]
    if not UAMI_NAME.fullmatch(name):
        # NOTE: the rule is ARM's (resource-name-rules, Microsoft.ManagedIdentity); the exact
        # message text is unconfirmed, the code is ARM's usual InvalidResourceName.
        raise arm_error(400, "InvalidResourceName",
                        f"Resource name '{name}' is invalid. The name can contain only letters, numbers, "
                        "underscores and hyphens, must start with a letter or number, and must be "
                        "between 3 and 128 characters long.")
    body = await ctx.body()
    location = check_location(body, rid, old, UAMI_TYPE)
    tags = body.get("tags") or {}
    if not isinstance(tags, dict):
        raise arm_error(400, "InvalidRequestContent", "'tags' must be an object of strings.")
    if old is not None:
        old["tags"] = dict(tags)
        return json_response(copy.deepcopy(old), 200)
    principal, client = new_id(), new_id()
    res = {"id": rid, "name": name, "type": UAMI_TYPE, "location": location, "tags": dict(tags),
           "properties": {"isolationScope": "None", "tenantId": ctx.world.tenant_id,
                          "principalId": principal, "clientId": client}}
    ctx.world.arm["resources"][rid.lower()] = res
    ctx.world.add_managed_identity_sp(principal, client, name, rid)
    ctx.world.mark_new(principal, client)
    return json_response(copy.deepcopy(res), 201)


async def get_identity_resource(ctx: Ctx) -> web.Response:
    return json_response(copy.deepcopy(ctx.existing(UAMI_TYPE, f"{UAMI_TYPE}/read")))


async def delete_identity_resource(ctx: Ctx) -> web.Response:
    rid, res = ctx.target(UAMI_TYPE, f"{UAMI_TYPE}/delete")
    if res is None:
        return web.Response(status=204)
    del ctx.world.arm["resources"][rid.lower()]
    ctx.world.remove_managed_identity_sp(res["properties"]["principalId"])
    return web.Response(status=200)


def _identities_under(world: World, prefix: str) -> list[dict]:
    p = prefix.lower() + "/"
    return [copy.deepcopy(r) for key, r in world.arm["resources"].items()
            if key.startswith(p) and r.get("type", "").lower() == UAMI_TYPE.lower()]


async def list_identities_in_group(ctx: Ctx) -> web.Response:
    ctx.subscription()
    scope = f"/subscriptions/{ctx.world.subscription_id}/resourceGroups/{ctx.match['rg']}"
    ctx.authorize(f"{UAMI_TYPE}/read", scope)
    rg = ctx.group()
    return json_response({"value": _identities_under(ctx.world, rg["id"])})


async def list_identities_in_subscription(ctx: Ctx) -> web.Response:
    ctx.subscription()
    scope = f"/subscriptions/{ctx.world.subscription_id}"
    ctx.authorize(f"{UAMI_TYPE}/read", scope)
    return json_response({"value": _identities_under(ctx.world, scope)})
