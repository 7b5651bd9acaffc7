"""The emulator's Azure Resource Manager: every ``/arm/…`` route (ARM base URL = ``world.arm_url``).

Routes (paths are ARM's, case-insensitive like ARM; every request needs a Bearer token for ARM and
an ``api-version`` — any well-formed one, never pinned, so current SDKs and the Azure CLI both work):

  GET   /subscriptions[/{sub}]                                       displayName, state, tenantId
  GET   /subscriptions/{sub}/resourcegroups[/{rg}]   (HEAD too)      location
  GET   {rg}/providers/Microsoft.Compute/virtualMachines/{vm}
  PATCH {rg}/providers/Microsoft.Compute/virtualMachines/{vm}         identity / tags / properties
  GET   {rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{ss}
  PATCH {rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{ss}  identity / tags / upgradePolicy
  GET   {ss}/virtualMachines                                          instances (latestModelApplied)
  POST  {ss}/manualupgrade                                            {"instanceIds": [...]}
  GET   {rg}/providers/Microsoft.ContainerInstance/containerGroups/{cg}
  PUT   {rg}/providers/Microsoft.ContainerInstance/containerGroups/{cg}   whole definition, LRO
  PATCH {rg}/providers/Microsoft.ContainerInstance/containerGroups/{cg}   tags only
  POST  {cg}/stop | {cg}/start | {cg}/restart
  GET   /subscriptions/{sub}/providers/Microsoft.ContainerInstance/locations/{loc}/operations/{id}
  PUT | GET | DELETE {rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}
  GET   {rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities       list by group
  GET   /subscriptions/{sub}/providers/Microsoft.ManagedIdentity/userAssignedIdentities  list
Any other ``/arm`` route answers 501 naming it.

Behaviour, with its source:
- Identity PATCH on VMs and scale sets (FACTS.md "Azure Resource Manager"): ``type`` is None /
  SystemAssigned / UserAssigned / "SystemAssigned, UserAssigned"; ``userAssignedIdentities`` is
  merged (``{}`` adds, ``null`` removes one); a type without UserAssigned drops every user-assigned
  identity, a type without SystemAssigned deletes the system-assigned principal. Enabling
  system-assigned creates a principal and its ManagedIdentity service principal in Graph. The
  response is 200 with provisioningState (azure-mgmt-compute 39 accepts only 200 for PATCH).
  Keys of ``userAssignedIdentities`` are returned as the client sent them; compare them
  case-insensitively (ARM resource ids are).
- Scale sets: a model change under ``upgradePolicy.mode = Manual`` leaves every instance with
  ``latestModelApplied: false`` until ``manualupgrade``; Automatic and Rolling apply at once.
- Container groups (FACTS.md): PUT replaces the whole definition (identity included) and restarts
  every container (restartCount + 1, a "Killing"/"Started" event pair); the answer is 201 (new) or
  200 (existing) with ``Azure-AsyncOperation`` (``Retry-After: 0``); the operation reports
  ``InProgress`` on its first poll and ``Succeeded`` on the next. An image whose registry host
  ends in ``.invalid`` (RFC 2606) cannot be pulled: the operation ends ``Failed`` with
  ``InaccessibleImage`` — the way tests make an LRO fail. ``POST …/stop`` stops a group (state
  Stopped, containers Terminated) — the way tests get a terminated group. Secure environment
  variable values (``secureValue``) are stored but never returned, as ACI does.
- User-assigned identities: PUT is create-or-update (201 / 200); principalId and clientId are
  fixed at creation; names follow ARM's rule ``^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$``.
- RBAC from ``arm.role_assignments`` by the caller's object id and scope prefix, with the actions
  of the built-in roles (Owner, Contributor, Reader, Virtual Machine Contributor, Managed Identity
  Operator, Managed Identity Contributor). Attaching a user-assigned identity also needs
  ``…/userAssignedIdentities/assign/action`` on it: ``LinkedAuthorizationFailed`` otherwise.
  ARM checks in this order: subscription, authorization, resource group, resource.

Not emulated: creating or deleting VMs, scale sets, resource groups; PUT on VMs and scale sets;
paging (lists fit one page); role assignment writes; ETags; federated credentials on
user-assigned identities.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Awaitable, Callable

from aiohttp import web

from .errors import ApiError, arm_error
from .http import json_response, not_emulated, world_of
from .state import World, new_id
from .auth import authenticate

ARM_PREFIX = "/arm"
UAMI_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
VM_TYPE = "Microsoft.Compute/virtualMachines"
VMSS_TYPE = "Microsoft.Compute/virtualMachineScaleSets"
CG_TYPE = "Microsoft.ContainerInstance/containerGroups"
ASSIGN_ACTION = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"
NOT_FOUND_FIX = "For more details please go to https://aka.ms/ARMResourceNotFoundFix"

# NOTE: actions of the built-in roles (learn.microsoft.com/azure/role-based-access-control/built-in-roles),
# cut to the resource providers the emulator serves.
ROLE_ACTIONS: dict[str, tuple[str, ...]] = {
    "owner": ("*",),
    "contributor": ("*",),
    "reader": ("*/read",),
    "virtual machine contributor": (
        "Microsoft.Authorization/*/read", "Microsoft.Compute/availabilitySets/*",
        "Microsoft.Compute/locations/*", "Microsoft.Compute/virtualMachines/*",
        "Microsoft.Compute/virtualMachineScaleSets/*", "Microsoft.Compute/disks/*",
        "Microsoft.Network/*/read", "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read"),
    "managed identity operator": (
        "Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
        "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
        "Microsoft.Authorization/*/read", "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read"),
    "managed identity contributor": (
        "Microsoft.ManagedIdentity/userAssignedIdentities/read",
        "Microsoft.ManagedIdentity/userAssignedIdentities/write",
        "Microsoft.ManagedIdentity/userAssignedIdentities/delete",
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/*",
        "Microsoft.Authorization/*/read", "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read"),
}

# NOTE: public-cloud regions (az account list-locations); a PUT elsewhere is refused as ARM does.
LOCATIONS = frozenset("""
eastus eastus2 westus westus2 westus3 centralus northcentralus southcentralus westcentralus
canadacentral canadaeast brazilsouth northeurope westeurope uksouth ukwest francecentral
germanywestcentral norwayeast switzerlandnorth swedencentral polandcentral italynorth spaincentral
eastasia southeastasia japaneast japanwest australiaeast australiasoutheast centralindia
southindia koreacentral uaenorth southafricanorth qatarcentral israelcentral mexicocentral
""".split())

UAMI_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}")
CG_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
UAMI_ID = re.compile(r"/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/"
                     r"microsoft\.managedidentity/userassignedidentities/(?P<name>[^/]+)", re.I)
API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-[a-z]+)?", re.I)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- authorization --------------------------------------------------------------------------

def _pattern(action_glob: str) -> re.Pattern:
    # ARM wildcards: '*' spans segments, and 'a/*/read' also covers 'a/read'.
    rx = re.escape(action_glob.lower()).replace(r"/\*/", "/(?:.*/)?").replace(r"\*", ".*")
    return re.compile(rx)


_ROLE_PATTERNS = {role: tuple(_pattern(a) for a in actions) for role, actions in ROLE_ACTIONS.items()}


def _within(scope: str, assignment_scope: str) -> bool:
    s, a = scope.lower().rstrip("/"), assignment_scope.lower().rstrip("/")
    return s == a or s.startswith(a + "/")


def allowed(world: World, principal_id: str, action: str, scope: str) -> bool:
    act = action.lower()
    for ra in world.arm["role_assignments"]:
        if ra.get("principalId") != principal_id or not _within(scope, ra.get("scope", "")):
            continue
        if any(p.fullmatch(act) for p in _ROLE_PATTERNS.get(ra["roleDefinitionName"].lower(), ())):
            return True
    return False


def authorization_failed(oid: str, action: str, scope: str) -> ApiError:
    return arm_error(403, "AuthorizationFailed",
                     f"The client '{oid}' with object id '{oid}' does not have authorization to "
                     f"perform action '{action}' over scope '{scope}' or the scope is invalid. If "
                     "access was recently granted, please refresh your credentials.")


def linked_authorization_failed(oid: str, action: str, scope: str, linked: list[str]) -> ApiError:
    return arm_error(403, "LinkedAuthorizationFailed",
                     f"The client '{oid}' with object id '{oid}' has permission to perform action "
                     f"'{action}' on scope '{scope}'; however, it does not have permission to perform "
                     f"action(s) '{ASSIGN_ACTION}' on the linked scope(s) '{','.join(linked)}' or the "
                     "linked scope(s) are invalid.")


# --- the request context --------------------------------------------------------------------

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


def _json(body, status: int = 200, headers: dict | None = None) -> web.Response:
    return json_response(body, status, headers)


# --- subscriptions and resource groups ------------------------------------------------------

def _subscription_json(world: World) -> dict:
    sub = world.data.get("subscription", {})
    return {"id": f"/subscriptions/{world.subscription_id}", "authorizationSource": "RoleBased",
            "managedByTenants": [], "subscriptionId": world.subscription_id,
            "tenantId": world.tenant_id, "displayName": sub.get("displayName", "Subscription"),
            "state": sub.get("state", "Enabled"),
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                     "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"}}


def _sees_subscription(ctx: Ctx) -> bool:
    prefix = f"/subscriptions/{ctx.world.subscription_id}"
    return any(ra.get("principalId") == ctx.caller_oid
               and (_within(ra.get("scope", ""), prefix) or _within(prefix, ra.get("scope", "")))
               for ra in ctx.world.arm["role_assignments"])


async def list_subscriptions(ctx: Ctx) -> web.Response:
    value = [_subscription_json(ctx.world)] if _sees_subscription(ctx) else []
    return _json({"value": value, "count": {"type": "Total", "value": len(value)}})


async def get_subscription(ctx: Ctx) -> web.Response:
    ctx.subscription()
    if not _sees_subscription(ctx):
        raise authorization_failed(ctx.caller_oid, "Microsoft.Resources/subscriptions/read",
                                   f"/subscriptions/{ctx.match['sub']}")
    return _json(_subscription_json(ctx.world))


RG_READ = "Microsoft.Resources/subscriptions/resourceGroups/read"


async def list_groups(ctx: Ctx) -> web.Response:
    ctx.subscription()
    # ARM lists the groups the caller may read (filtered, never 403).
    value = [copy.deepcopy(rg) for rg in ctx.world.arm["resource_groups"].values()
             if allowed(ctx.world, ctx.caller_oid, RG_READ, rg["id"])]
    return _json({"value": value})


async def get_group(ctx: Ctx) -> web.Response:
    ctx.subscription()
    ctx.authorize(RG_READ, f"/subscriptions/{ctx.world.subscription_id}/resourceGroups/{ctx.match['rg']}")
    rg = ctx.group()
    if ctx.request.method == "HEAD":
        return web.Response(status=204)
    return _json(copy.deepcopy(rg))


# --- identities on VMs, scale sets and container groups --------------------------------------

def _identity_types(value, field: str = "identity.type") -> set[str]:
    parts = {p.strip().lower() for p in str(value).split(",") if p.strip()}
    if not parts or not parts <= {"none", "systemassigned", "userassigned"} or (
            "none" in parts and len(parts) > 1):
        raise arm_error(400, "InvalidParameter",
                        f"The value '{value}' of parameter '{field}' is not allowed. Allowed values "
                        "are 'SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned', 'None'.")
    return parts - {"none"}


def _type_text(types: set[str]) -> str:
    if types == {"systemassigned", "userassigned"}:
        return "SystemAssigned, UserAssigned"
    if types == {"systemassigned"}:
        return "SystemAssigned"
    if types == {"userassigned"}:
        return "UserAssigned"
    return "None"


def _identity_failed(resource_id: str, identity_id: str) -> ApiError:
    # NOTE: ARM's answer for an identity that does not exist (aad-pod-identity#515, azure-policy#1311).
    inner = json.dumps({"error": {"code": "BadRequest",
                                  "message": f"Resource '{identity_id.lower()}' was not found."}},
                       separators=(",", ":"))
    return arm_error(400, "FailedIdentityOperation",
                     f"Identity operation for resource '{resource_id}' failed with error 'Failed to "
                     f"perform resource identity operation. Status: 'BadRequest'. Response: "
                     f"'{inner}'.'.")


def _check_user_identities(ctx: Ctx, resource_id: str, action: str, added: list[str]) -> dict:
    """Validate the identity ids a request attaches: shape, linked authorization, existence.
    Returns {id as sent: {principalId, clientId}}."""
    for ident in added:
        if not UAMI_ID.fullmatch(ident):
            raise arm_error(400, "InvalidParameter",
                            f"ResourceIdentity identityId '{ident}' is not a valid reference to a "
                            "Microsoft.ManagedIdentity identity.")
    denied = [i for i in added if not allowed(ctx.world, ctx.caller_oid, ASSIGN_ACTION, i)]
    if denied:
        raise linked_authorization_failed(ctx.caller_oid, action, resource_id, denied)
    out = {}
    for ident in added:
        res = ctx.world.arm["resources"].get(ident.lower())
        if res is None or res.get("type", "").lower() != UAMI_TYPE.lower():
            raise _identity_failed(resource_id, ident)
        props = res["properties"]
        out[ident] = {"principalId": props["principalId"], "clientId": props["clientId"]}
    return out


def _set_system(world: World, resource: dict, identity: dict, enable: bool, previous: dict) -> None:
    """Keep, create or delete the system-assigned principal (and its Graph service principal)."""
    old = previous.get("principalId")
    if enable:
        principal = old or new_id()
        if not old:
            world.add_managed_identity_sp(principal, new_id(), resource["name"], resource["id"])
            world.mark_new(principal)
        identity["principalId"] = principal
        identity["tenantId"] = world.tenant_id
    elif old:
        world.remove_managed_identity_sp(old)


def _store_identity(resource: dict, identity: dict) -> None:
    if identity["type"] == "None":
        resource.pop("identity", None)
    else:
        resource["identity"] = identity


def patch_identity(ctx: Ctx, resource: dict, patch: dict, action: str) -> bool:
    """PATCH semantics (merge) for VMs and scale sets. Returns True when the identity changed."""
    if not isinstance(patch, dict):
        raise arm_error(400, "InvalidRequestContent", "'identity' must be an object.")
    current = resource.get("identity") or {"type": "None"}
    cur_types = _identity_types(current.get("type") or "None")
    types = _identity_types(patch["type"]) if patch.get("type") is not None else set(cur_types)
    ua_patch = patch.get("userAssignedIdentities")
    if ua_patch is not None and not isinstance(ua_patch, dict):
        raise arm_error(400, "InvalidRequestContent", "'identity.userAssignedIdentities' must be an object.")
    ua_patch = ua_patch or {}
    bad = [k for k, v in ua_patch.items() if v is not None and not isinstance(v, dict)]
    if bad:
        raise arm_error(400, "InvalidIdentityValues",
                        f"Invalid value for the identities '{', '.join(bad)}'. The 'UserAssignedIdentities' "
                        "property keys should only be empty json objects, null or the resource exisiting "
                        "property.")
    added = [k for k, v in ua_patch.items() if v is not None]
    if added and "userassigned" not in types:
        raise arm_error(400, "InvalidParameter",
                        "ResourceIdentity identityIds should not be provided if the type is "
                        f"\"{_type_text(types)}\".")
    attached = _check_user_identities(ctx, resource["id"], action, added)
    users: dict[str, dict] = {}
    if "userassigned" in types:
        users = dict(current.get("userAssignedIdentities") or {}) if "userassigned" in cur_types else {}
        for key, value in ua_patch.items():
            for existing in [k for k in users if k.lower() == key.lower()]:
                del users[existing]
            if value is not None:
                users[key] = attached[key]
        if not users:
            raise arm_error(400, "InvalidParameter",
                            "The identity type 'UserAssigned' needs at least one user-assigned identity "
                            "in 'identity.userAssignedIdentities'.")
    identity: dict = {"type": _type_text(types)}
    _set_system(ctx.world, resource, identity, "systemassigned" in types, current)
    if users:
        identity["userAssignedIdentities"] = users
    before = json.dumps(resource.get("identity") or {"type": "None"}, sort_keys=True)
    _store_identity(resource, identity)
    return before != json.dumps(identity, sort_keys=True)


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
    return _json(copy.deepcopy(ctx.existing(VM_TYPE, f"{VM_TYPE}/read")))


async def patch_vm(ctx: Ctx) -> web.Response:
    action = f"{VM_TYPE}/write"
    vm = ctx.existing(VM_TYPE, action)
    body = await ctx.body()
    _patch_compute(ctx, vm, body, action)
    return _json(copy.deepcopy(vm))


def _instances(world: World, vmss: dict) -> dict[str, dict]:
    table = world.arm.setdefault("scale_set_instances", {})
    key = vmss["id"].lower()
    if key not in table:
        count = int((vmss.get("sku") or {}).get("capacity") or 0)
        table[key] = {str(i): {"latestModelApplied": True} for i in range(count)}
    return table[key]


async def get_vmss(ctx: Ctx) -> web.Response:
    return _json(copy.deepcopy(ctx.existing(VMSS_TYPE, f"{VMSS_TYPE}/read")))


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
    return _json(copy.deepcopy(vmss))


def _instance_json(vmss: dict, instance_id: str, state: dict) -> dict:
    return {"id": f"{vmss['id']}/virtualMachines/{instance_id}", "name": f"{vmss['name']}_{instance_id}",
            "instanceId": instance_id, "type": f"{VMSS_TYPE}/virtualMachines",
            "location": vmss["location"], "sku": copy.deepcopy(vmss.get("sku")), "tags": {},
            "properties": {"latestModelApplied": state["latestModelApplied"],
                           "provisioningState": "Succeeded"}}


async def list_vmss_instances(ctx: Ctx) -> web.Response:
    vmss = ctx.existing(VMSS_TYPE, f"{VMSS_TYPE}/virtualMachines/read")
    return _json({"value": [_instance_json(vmss, i, s)
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


# --- container groups -------------------------------------------------------------------------

def _operation_url(ctx: Ctx, location: str, op_id: str) -> str:
    return (f"{ctx.world.arm_url}/subscriptions/{ctx.world.subscription_id}/providers/"
            f"Microsoft.ContainerInstance/locations/{location}/operations/{op_id}"
            f"?api-version={ctx.api_version}")


def _new_operation(ctx: Ctx, location: str, resource_id: str, error: dict | None) -> dict:
    op_id = new_id()
    ops = ctx.world.arm.setdefault("operations", {})
    ops[op_id] = {"id": op_id, "resourceId": resource_id, "startTime": _now(),
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
        return _json({**body, "status": "InProgress"}, headers={"Retry-After": "0"})
    op.setdefault("endTime", _now())
    body["endTime"] = op["endTime"]
    if op["error"]:
        return _json({**body, "status": "Failed", "error": op["error"]})
    return _json({**body, "status": "Succeeded"})


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
    return _json(_public_group(ctx.existing(CG_TYPE, f"{CG_TYPE}/read")))


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


def _put_identity(ctx: Ctx, resource: dict, requested: dict | None, previous: dict, action: str) -> None:
    """PUT semantics: the identity sent is the whole identity."""
    requested = requested or {"type": "None"}
    types = _identity_types(requested.get("type") or "None")
    ua = {k: v for k, v in (requested.get("userAssignedIdentities") or {}).items() if v is not None}
    if ua and "userassigned" not in types:
        raise arm_error(400, "InvalidParameter",
                        "ResourceIdentity identityIds should not be provided if the type is "
                        f"\"{_type_text(types)}\".")
    if "userassigned" in types and not ua:
        raise arm_error(400, "InvalidParameter",
                        "The identity type 'UserAssigned' needs at least one user-assigned identity "
                        "in 'identity.userAssignedIdentities'.")
    attached = _check_user_identities(ctx, resource["id"], action, list(ua))
    identity: dict = {"type": _type_text(types)}
    _set_system(ctx.world, resource, identity, "systemassigned" in types, previous)
    if attached:
        identity["userAssignedIdentities"] = attached
    _store_identity(resource, identity)


def _event(name: str, message: str, now: str) -> dict:
    return {"count": 1, "firstTimestamp": now, "lastTimestamp": now, "name": name,
            "message": message, "type": "Normal"}


def _start_containers(group: dict, old: dict | None, failed: bool) -> None:
    """Server-side state after a (re)deployment: instance views, restart counts, events."""
    now = _now()
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
    location = _location(body, rid, old, CG_TYPE)
    _validate_group(name, body, new=old is None)
    props = copy.deepcopy(body["properties"])
    for key in ("provisioningState", "instanceView"):
        props.pop(key, None)
    if old is not None and isinstance(props.get("ipAddress"), dict):
        props["ipAddress"].setdefault("ip", (old["properties"].get("ipAddress") or {}).get("ip"))
    group = {"id": rid, "name": (old or {}).get("name", name), "type": CG_TYPE, "location": location,
             "tags": dict(body.get("tags") or {}), "properties": props}
    previous = (old or {}).get("identity") or {}
    _put_identity(ctx, group, body.get("identity"), previous, action)
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
    return _json(answer, 200 if old is not None else 201, headers)


async def patch_group_resource(ctx: Ctx) -> web.Response:
    cg = ctx.existing(CG_TYPE, f"{CG_TYPE}/write")
    body = await ctx.body()
    # NOTE: ACI's PATCH (ContainerGroups_Update) takes a Resource: only tags change.
    if "tags" in body:
        cg["tags"] = dict(body["tags"] or {})
    return _json(_public_group(cg))


async def stop_group(ctx: Ctx) -> web.Response:
    cg = ctx.existing(CG_TYPE, f"{CG_TYPE}/stop/action")
    now = _now()
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


# --- user-assigned identities -------------------------------------------------------------------

def _location(body: dict, rid: str, old: dict | None, rtype: str) -> str:
    location = body.get("location")
    if not location:
        raise arm_error(400, "LocationRequired", "The location property is required for this definition.")
    norm = str(location).replace(" ", "").lower()
    if norm not in LOCATIONS:
        raise arm_error(400, "LocationNotAvailableForResourceType",
                        f"The provided location '{location}' is not available for resource type "
                        f"'{rtype}'. List of available regions for the resource type is "
                        f"'{','.join(sorted(LOCATIONS))}'.")
    if old is not None and old["location"] != norm:
        rg = rid.split("/")[4]
        raise arm_error(400, "InvalidResourceLocation",
                        f"The resource '{old['name']}' already exists in location '{old['location']}' in "
                        f"resource group '{rg}'. A resource with the same name cannot be created in "
                        f"location '{norm}'. Please select a new resource name.")
    return norm


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
    location = _location(body, rid, old, UAMI_TYPE)
    tags = body.get("tags") or {}
    if not isinstance(tags, dict):
        raise arm_error(400, "InvalidRequestContent", "'tags' must be an object of strings.")
    if old is not None:
        old["tags"] = dict(tags)
        return _json(copy.deepcopy(old), 200)
    principal, client = new_id(), new_id()
    res = {"id": rid, "name": name, "type": UAMI_TYPE, "location": location, "tags": dict(tags),
           "properties": {"isolationScope": "None", "tenantId": ctx.world.tenant_id,
                          "principalId": principal, "clientId": client}}
    ctx.world.arm["resources"][rid.lower()] = res
    ctx.world.add_managed_identity_sp(principal, client, name, rid)
    ctx.world.mark_new(principal, client)
    return _json(copy.deepcopy(res), 201)


async def get_identity_resource(ctx: Ctx) -> web.Response:
    return _json(copy.deepcopy(ctx.existing(UAMI_TYPE, f"{UAMI_TYPE}/read")))


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
    return _json({"value": _identities_under(ctx.world, rg["id"])})


async def list_identities_in_subscription(ctx: Ctx) -> web.Response:
    ctx.subscription()
    scope = f"/subscriptions/{ctx.world.subscription_id}"
    ctx.authorize(f"{UAMI_TYPE}/read", scope)
    return _json({"value": _identities_under(ctx.world, scope)})


# --- routing ------------------------------------------------------------------------------------

Handler = Callable[[Ctx], Awaitable[web.Response]]
_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourcegroups/(?P<rg>[^/]+)"
_VM = _RG + r"/providers/microsoft\.compute/virtualmachines/(?P<name>[^/]+)"
_VMSS = _RG + r"/providers/microsoft\.compute/virtualmachinescalesets/(?P<name>[^/]+)"
_CG = _RG + r"/providers/microsoft\.containerinstance/containergroups/(?P<name>[^/]+)"
_UAMI = r"/providers/microsoft\.managedidentity/userassignedidentities"

ROUTES: list[tuple[str, re.Pattern, Handler]] = [
    (m, re.compile(p, re.I), h) for m, p, h in [
        ("GET", r"/subscriptions", list_subscriptions),
        ("GET", _SUB, get_subscription),
        ("GET", _SUB + r"/resourcegroups", list_groups),
        ("GET", _RG, get_group),
        ("HEAD", _RG, get_group),
        ("GET", _VM, get_vm),
        ("PATCH", _VM, patch_vm),
        ("GET", _VMSS, get_vmss),
        ("PATCH", _VMSS, patch_vmss),
        ("GET", _VMSS + r"/virtualmachines", list_vmss_instances),
        ("POST", _VMSS + r"/manualupgrade", manual_upgrade),
        ("GET", _CG, get_group_resource),
        ("PUT", _CG, put_group_resource),
        ("PATCH", _CG, patch_group_resource),
        ("POST", _CG + r"/stop", stop_group),
        ("POST", _CG + r"/start", start_group),
        ("POST", _CG + r"/restart", restart_group),
        ("GET", _SUB + r"/providers/microsoft\.containerinstance/locations/(?P<loc>[^/]+)/operations/"
                r"(?P<op>[^/]+)", get_operation),
        ("PUT", _RG + _UAMI + r"/(?P<name>[^/]+)", put_identity_resource),
        ("GET", _RG + _UAMI + r"/(?P<name>[^/]+)", get_identity_resource),
        ("DELETE", _RG + _UAMI + r"/(?P<name>[^/]+)", delete_identity_resource),
        ("GET", _RG + _UAMI, list_identities_in_group),
        ("GET", _SUB + _UAMI, list_identities_in_subscription),
    ]
]


def _check_api_version(request: web.Request) -> None:
    version = request.query.get("api-version")
    if not version:
        raise arm_error(400, "MissingApiVersionParameter",
                        "The api-version query parameter (?api-version=) is required for all requests.")
    if not API_VERSION.fullmatch(version):
        raise arm_error(400, "InvalidApiVersionParameter",
                        f"The api-version '{version}' is invalid. The supported versions are dates "
                        "like '2024-11-30' with an optional '-preview' suffix.")


async def dispatch(request: web.Request) -> web.Response:
    path = request.path[len(ARM_PREFIX):].rstrip("/") or "/"
    for method, pattern, handler in ROUTES:
        if method != request.method:
            continue
        m = pattern.fullmatch(path)
        if m is not None:
            break
    else:
        return await not_emulated(request)
    caller = authenticate(request, "arm")
    _check_api_version(request)
    return await handler(Ctx(request, world_of(request), caller.oid, m.groupdict()))


def add_routes(app: web.Application, *args) -> None:
    app.router.add_route("*", ARM_PREFIX + "/{tail:.*}", dispatch)
