"""Handlers of container groups (Azure Container Instances) and their long-running operations.

PUT replaces the whole definition (identity included) and restarts every container
(restartCount + 1, a "Killing"/"Started" event pair); the answer is 201 (new) or 200 (existing)
with ``Azure-AsyncOperation`` (``Retry-After: 0``); the operation reports ``InProgress`` on its
first poll and ``Succeeded`` on the next. An image whose registry host ends in ``.invalid``
(RFC 2606) cannot be pulled: the operation ends ``Failed`` with ``InaccessibleImage`` — the way
tests make an LRO fail. ``POST …/stop`` stops a group (state Stopped, containers Terminated) — the
way tests get a terminated group. PATCH changes tags only. Secure environment variable values
(``secureValue``) are stored but never returned, as ACI does.
Source: ARM: "Container Groups - Create Or Update", "Container Groups - Update", "Container Groups
- Stop" / "Start" / "Restart"; Azure Container Instances: "How to use managed identities with
Azure Container Instances" (identity is set with a full PUT; containers restart).
"""

from __future__ import annotations

import copy
import re

from aiohttp import web

from ..errors import arm_error
from ..http import json_response
from ..state import new_id
from .context import Ctx, utc_now
from .identity import put_identity
from .locations import check_location

CG_TYPE = "Microsoft.ContainerInstance/containerGroups"
CG_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")


def _operation_url(ctx: Ctx, location: str, op_id: str) -> str:
    return (f"{ctx.world.arm_url}/subscriptions/{ctx.world.subscription_id}/providers/"
            f"Microsoft.ContainerInstance/locations/{location}/operations/{op_id}"
            f"?api-version={ctx.api_version}")


def _new_operation(ctx: Ctx, location: str, resource_id: str, error: dict | None) -> dict:
    op_id = new_id()
    ops = ctx.world.arm.setdefault("operations", {})
    ops[op_id] = {"id": op_id, "resourceId": resource_id, "startTime": utc_now(),
                  "pendingPolls": 1, "error": error}
    return {"Azure-AsyncOperation": _operation_url(ctx, location, op_id), "Retry-After": "0"}


async def get_operation(ctx: Ctx) -> web.Response:
    ctx.subscription()
    ctx.authorize("Microsoft.ContainerInstance/locations/operations/read",
                  f"/subscriptions/{ctx.world.subscription_id}")
    op = ctx.world.arm.setdefault("operations", {}).get(ctx.match["op"])
    if op is None:
        raise arm_error(404, "OperationNotFound", f"The operation '{ctx.match['op']}' could not be found.")
    body = {"id": op["resourceId"], "name": op["id"], "startTime": op["startTime"]}
    if op["pendingPolls"] > 0:
        op["pendingPolls"] -= 1
        return json_response({**body, "status": "InProgress"}, headers={"Retry-After": "0"})
    op.setdefault("endTime", utc_now())
    body["endTime"] = op["endTime"]
    if op["error"]:
        return json_response({**body, "status": "Failed", "error": op["error"]})
    return json_response({**body, "status": "Succeeded"})


def _public_group(cg: dict) -> dict:
    """What GET answers: secure environment variable values are never returned (ACI)."""
    out = copy.deepcopy(cg)
    for c in out["properties"].get("containers", []):
        for env in c.get("properties", {}).get("environmentVariables", []) or []:
            env.pop("secureValue", None)
    for cred in out["properties"].get("imageRegistryCredentials", []) or []:
        cred.pop("password", None)
    return out


async def get_group_resource(ctx: Ctx) -> web.Response:
    return json_response(_public_group(ctx.existing(CG_TYPE, f"{CG_TYPE}/read")))


def _unpullable(image: str) -> bool:
    first = image.split("/", 1)[0] if "/" in image else ""
    host = first.split(":", 1)[0].lower()
    return host.endswith(".invalid")


def _validate_group(name: str, body: dict, new: bool) -> None:
    # The name rule is checked at creation only (the seeded group predates it).
    if new and (len(name) > 63 or not CG_NAME.fullmatch(name) or "--" in name):
        raise arm_error(400, "InvalidResourceName",
                        f"The Resource Name '{name}' is invalid. Container group names must be 1 to 63 "
                        "characters long, contain only lowercase letters, numbers and hyphens, must not "
                        "start or end with a hyphen, and must not contain consecutive hyphens.")
    props = body.get("properties")
    containers = (props or {}).get("containers")
    if not isinstance(containers, list) or not containers:
        raise arm_error(400, "InvalidRequestContent",
                        "The request content was invalid: 'properties.containers' is required.")
    if not (props or {}).get("osType"):
        raise arm_error(400, "InvalidRequestContent",
                        "The request content was invalid: 'properties.osType' is required.")
    for c in containers:
        cp = (c or {}).get("properties") or {}
        if not c.get("name") or not cp.get("image") or not (cp.get("resources") or {}).get("requests"):
            raise arm_error(400, "InvalidRequestContent",
                            "The request content was invalid: every container needs 'name', "
                            "'properties.image' and 'properties.resources.requests'.")


def _event(name: str, message: str, now: str) -> dict:
    return {"count": 1, "firstTimestamp": now, "lastTimestamp": now, "name": name,
            "message": message, "type": "Normal"}


def _start_containers(group: dict, old: dict | None, failed: bool) -> None:
    """Server-side state after a (re)deployment: instance views, restart counts, events."""
    now = utc_now()
    old_views = {c["name"]: c.get("properties", {}).get("instanceView") or {}
                 for c in ((old or {}).get("properties", {}).get("containers") or [])}
    for c in group["properties"]["containers"]:
        props = c.setdefault("properties", {})
        prior = old_views.get(c["name"])
        events = list((prior or {}).get("events") or [])
        restarts = (prior or {}).get("restartCount", 0)
        if prior is not None:
            restarts += 1
            events.append(_event("Killing", f"Killing container with id {c['name']}.", now))
        state = {"state": "Waiting", "detailStatus": "ImagePullBackOff"} if failed else \
            {"state": "Running", "startTime": now, "detailStatus": ""}
        if not failed:
            events.append(_event("Started", "Started container", now))
        props["instanceView"] = {"restartCount": restarts, "currentState": state, "events": events}
    group_events = list(((old or {}).get("properties", {}).get("instanceView") or {}).get("events") or [])
    group["properties"]["instanceView"] = {"events": group_events,
                                           "state": "Pending" if failed else "Running"}
    group["properties"]["provisioningState"] = "Failed" if failed else "Succeeded"


async def put_group_resource(ctx: Ctx) -> web.Response:
    action = f"{CG_TYPE}/write"
    rid, old = ctx.target(CG_TYPE, action)
    body = await ctx.body()
    name = ctx.match["name"]
    location = check_location(body, rid, old, CG_TYPE)
    _validate_group(name, body, new=old is None)
    props = copy.deepcopy(body["properties"])
    for key in ("provisioningState", "instanceView"):
        props.pop(key, None)
    if old is not None and isinstance(props.get("ipAddress"), dict):
        props["ipAddress"].setdefault("ip", (old["properties"].get("ipAddress") or {}).get("ip"))
    group = {"id": rid, "name": (old or {}).get("name", name), "type": CG_TYPE, "location": location,
             "tags": dict(body.get("tags") or {}), "properties": props}
    previous = (old or {}).get("identity") or {}
    put_identity(ctx, group, body.get("identity"), previous, action)
    images = [c["properties"]["image"] for c in props["containers"]]
    bad = next((i for i in images if _unpullable(i)), None)
    _start_containers(group, old, failed=bad is not None)
    ctx.world.arm["resources"][rid.lower()] = group
    error = None
    if bad:
        error = {"code": "InaccessibleImage",
                 "message": f"The image '{bad}' in container group '{name}' is not accessible. "
                            "Please check the image and registry credential."}
    headers = _new_operation(ctx, location, rid, error)
    answer = _public_group(group)
    answer["properties"]["provisioningState"] = "Pending" if old is None else "Updating"
    return json_response(answer, 200 if old is not None else 201, headers)


async def patch_group_resource(ctx: Ctx) -> web.Response:
    cg = ctx.existing(CG_TYPE, f"{CG_TYPE}/write")
    body = await ctx.body()
    # NOTE: ACI's PATCH (ContainerGroups_Update) takes a Resource: only tags change.
    if "tags" in body:
        cg["tags"] = dict(body["tags"] or {})
    return json_response(_public_group(cg))


async def stop_group(ctx: Ctx) -> web.Response:
    cg = ctx.existing(CG_TYPE, f"{CG_TYPE}/stop/action")
    now = utc_now()
    for c in cg["properties"]["containers"]:
        view = c.setdefault("properties", {}).setdefault("instanceView", {})
        view["previousState"] = view.get("currentState")
        view["currentState"] = {"state": "Terminated", "detailStatus": "Stopped", "finishTime": now,
                                "exitCode": 0}
    cg["properties"].setdefault("instanceView", {})["state"] = "Stopped"
    return web.Response(status=204)


async def start_group(ctx: Ctx) -> web.Response:
    cg = ctx.existing(CG_TYPE, f"{CG_TYPE}/start/action")
    _start_containers(cg, None, failed=False)
    headers = _new_operation(ctx, cg["location"], cg["id"], None)
    return web.Response(status=202, headers=headers)


async def restart_group(ctx: Ctx) -> web.Response:
    cg = ctx.existing(CG_TYPE, f"{CG_TYPE}/restart/action")
    _start_containers(cg, copy.deepcopy(cg), failed=False)
    return web.Response(status=204)
