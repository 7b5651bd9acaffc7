"""Managed identities on compute resources (``identity`` of VMs, scale sets, container groups): the
identity types, attaching user-assigned identities (shape, linked authorization
``…/userAssignedIdentities/assign/action``, existence), and the system-assigned principal with its
ManagedIdentity service principal in Graph. PATCH merges (VMs, scale sets); PUT replaces
(container groups).

``type`` is None / SystemAssigned / UserAssigned / "SystemAssigned, UserAssigned";
``userAssignedIdentities`` is merged on PATCH (``{}`` adds, ``null`` removes one); a type without
UserAssigned drops every user-assigned identity, a type without SystemAssigned deletes the
system-assigned principal. Keys of ``userAssignedIdentities`` are returned as the client sent them
(ARM resource ids compare case-insensitively).
Source: ARM: "Virtual Machines - Update" (identity); Azure docs: "Configure managed identities for
Azure resources on a VM using REST API calls" (PATCH with ``SystemAssigned`` drops the
user-assigned identities).
"""

from __future__ import annotations

import json
import re

from ..errors import ApiError, arm_error
from ..state import World, new_id
from .context import Ctx
from .rbac import ASSIGN_ACTION, allowed, linked_authorization_failed

UAMI_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
UAMI_ID = re.compile(r"/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/"
                     r"microsoft\.managedidentity/userassignedidentities/(?P<name>[^/]+)", re.I)


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


def put_identity(ctx: Ctx, resource: dict, requested: dict | None, previous: dict, action: str) -> None:
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
