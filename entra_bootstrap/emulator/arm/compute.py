"""Handlers of VMs and scale sets: GET and PATCH (identity, tags, properties; answered 200 with
provisioningState — azure-mgmt-compute 39 accepts only 200 for PATCH), scale-set instances and
``manualupgrade``. Under ``upgradePolicy.mode = Manual`` a model change leaves every instance
``latestModelApplied: false`` until ``manualupgrade``; Automatic and Rolling apply at once.
Creating, deleting and PUT are not emulated.
Source: ARM: "Virtual Machines - Get", "Virtual Machines - Update", "Virtual Machine Scale Sets -
Update", "Virtual Machine Scale Set VMs - List", "Virtual Machine Scale Sets - Update Instances".
"""

from __future__ import annotations

import copy
import json

from aiohttp import web

from ..errors import arm_error
from ..http import json_response
from ..state import World
from .context import Ctx
from .identity import patch_identity

VM_TYPE = "Microsoft.Compute/virtualMachines"
VMSS_TYPE = "Microsoft.Compute/virtualMachineScaleSets"

def _merge(dst: dict, src: dict) -> None:
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _merge(dst[key], value)
        else:
            dst[key] = copy.deepcopy(value)


READ_ONLY = {"provisioningState", "vmId", "uniqueId", "instanceView", "timeCreated"}


def _patch_compute(ctx: Ctx, resource: dict, body: dict, action: str) -> bool:
    """Apply a compute PATCH (identity, tags, properties). True when the model changed."""
    changed = False
    if body.get("identity") is not None:
        changed = patch_identity(ctx, resource, body["identity"], action)
    if "tags" in body:
        resource["tags"] = dict(body["tags"] or {})
    props = {k: v for k, v in (body.get("properties") or {}).items() if k not in READ_ONLY}
    if props:
        before = json.dumps(resource["properties"], sort_keys=True)
        _merge(resource["properties"], props)
        changed = changed or before != json.dumps(resource["properties"], sort_keys=True)
    resource["properties"]["provisioningState"] = "Succeeded"
    return changed


async def get_vm(ctx: Ctx) -> web.Response:
    return json_response(copy.deepcopy(ctx.existing(VM_TYPE, f"{VM_TYPE}/read")))


async def patch_vm(ctx: Ctx) -> web.Response:
    action = f"{VM_TYPE}/write"
    vm = ctx.existing(VM_TYPE, action)
    body = await ctx.body()
    _patch_compute(ctx, vm, body, action)
    return json_response(copy.deepcopy(vm))


def _instances(world: World, vmss: dict) -> dict[str, dict]:
    table = world.arm.setdefault("scale_set_instances", {})
    key = vmss["id"].lower()
    if key not in table:
        count = int((vmss.get("sku") or {}).get("capacity") or 0)
        table[key] = {str(i): {"latestModelApplied": True} for i in range(count)}
    return table[key]


async def get_vmss(ctx: Ctx) -> web.Response:
    return json_response(copy.deepcopy(ctx.existing(VMSS_TYPE, f"{VMSS_TYPE}/read")))


async def patch_vmss(ctx: Ctx) -> web.Response:
    action = f"{VMSS_TYPE}/write"
    vmss = ctx.existing(VMSS_TYPE, action)
    body = await ctx.body()
    mode = ((body.get("properties") or {}).get("upgradePolicy") or {}).get("mode")
    if mode is not None and mode.lower() not in ("automatic", "manual", "rolling"):
        raise arm_error(400, "InvalidParameter",
                        f"The value '{mode}' of parameter 'upgradePolicy.mode' is not allowed.")
    instances = _instances(ctx.world, vmss)
    if _patch_compute(ctx, vmss, body, action):
        manual = (vmss["properties"].get("upgradePolicy") or {}).get("mode", "Manual").lower() == "manual"
        for inst in instances.values():
            inst["latestModelApplied"] = not manual
    return json_response(copy.deepcopy(vmss))


def _instance_json(vmss: dict, instance_id: str, state: dict) -> dict:
    return {"id": f"{vmss['id']}/virtualMachines/{instance_id}", "name": f"{vmss['name']}_{instance_id}",
            "instanceId": instance_id, "type": f"{VMSS_TYPE}/virtualMachines",
            "location": vmss["location"], "sku": copy.deepcopy(vmss.get("sku")), "tags": {},
            "properties": {"latestModelApplied": state["latestModelApplied"],
                           "provisioningState": "Succeeded"}}


async def list_vmss_instances(ctx: Ctx) -> web.Response:
    vmss = ctx.existing(VMSS_TYPE, f"{VMSS_TYPE}/virtualMachines/read")
    return json_response({"value": [_instance_json(vmss, i, s)
                            for i, s in _instances(ctx.world, vmss).items()]})


async def manual_upgrade(ctx: Ctx) -> web.Response:
    vmss = ctx.existing(VMSS_TYPE, f"{VMSS_TYPE}/manualUpgrade/action")
    body = await ctx.body()
    instances = _instances(ctx.world, vmss)
    ids = body.get("instanceIds")
    if not isinstance(ids, list) or not ids:
        raise arm_error(400, "InvalidParameter", "Required parameter 'instanceIds' is missing (null).")
    unknown = [str(i) for i in ids if str(i) not in instances]
    if unknown:
        raise arm_error(400, "InvalidParameter",
                        f"The provided instanceId {unknown[0]} is not an active Virtual Machine Scale "
                        "Set VM instanceId.")
    for i in ids:
        instances[str(i)]["latestModelApplied"] = True
    return web.Response(status=200)
