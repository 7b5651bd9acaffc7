"""HTTP in and out for every ARM handler: the request context ``Ctx`` — the caller, the path's
named parts, ARM's order of checks (subscription, authorization, resource group, resource), the
JSON body — and ARM's common errors (``ResourceNotFound``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from aiohttp import web

from ..errors import ApiError, arm_error
from ..state import World
from .rbac import allowed, authorization_failed

NOT_FOUND_FIX = "For more details please go to https://aka.ms/ARMResourceNotFoundFix"


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Ctx:
    request: web.Request
    world: World
    caller_oid: str
    match: dict[str, str]

    @property
    def api_version(self) -> str:
        return self.request.query.get("api-version", "")

    def subscription(self) -> str:
        sub = self.match["sub"]
        if sub.lower() != self.world.subscription_id.lower():
            raise arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        return self.world.subscription_id

    def authorize(self, action: str, scope: str) -> None:
        if not allowed(self.world, self.caller_oid, action, scope):
            raise authorization_failed(self.caller_oid, action, scope)

    def group(self) -> dict:
        rg = self.world.arm["resource_groups"].get(self.match["rg"].lower())
        if rg is None:
            raise arm_error(404, "ResourceGroupNotFound",
                            f"Resource group '{self.match['rg']}' could not be found.")
        return rg

    def resource_id(self, rtype: str) -> str:
        """The canonical id of the resource the path names (resource group casing as stored)."""
        rg = self.world.arm["resource_groups"].get(self.match["rg"].lower())
        rg_name = rg["name"] if rg else self.match["rg"]
        return (f"/subscriptions/{self.world.subscription_id}/resourceGroups/{rg_name}/providers/"
                f"{rtype}/{self.match['name']}")

    def target(self, rtype: str, action: str) -> tuple[str, dict | None]:
        """Subscription, authorization, resource group; then (id, resource or None)."""
        self.subscription()
        rid = self.resource_id(rtype)
        self.authorize(action, rid)
        self.group()
        res = self.world.arm["resources"].get(rid.lower())
        if res is not None and res.get("type", "").lower() != rtype.lower():
            res = None
        return rid, res

    def existing(self, rtype: str, action: str) -> dict:
        rid, res = self.target(rtype, action)
        if res is None:
            raise resource_not_found(rtype, self.match["name"], self.match["rg"])
        return res

    async def body(self) -> dict:
        raw = await self.request.read()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise arm_error(400, "InvalidRequestContent",
                            f"The request content was invalid and could not be deserialized: '{exc}'.")
        if not isinstance(body, dict):
            raise arm_error(400, "InvalidRequestContent",
                            "The request content was invalid and could not be deserialized: "
                            "expected a JSON object.")
        return body


def resource_not_found(rtype: str, name: str, rg: str) -> ApiError:
    return arm_error(404, "ResourceNotFound",
                     f"The Resource '{rtype}/{name}' under resource group '{rg}' was not found. "
                     f"{NOT_FOUND_FIX}")
