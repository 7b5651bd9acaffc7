"""Azure RBAC as ARM checks it: ``arm.role_assignments`` matched by the caller's object id and
scope prefix, with the actions of the built-in roles (Owner, Contributor, Reader, Virtual Machine
Contributor, Managed Identity Operator, Managed Identity Contributor), and ARM's 403s
(``AuthorizationFailed``, ``LinkedAuthorizationFailed``). No HTTP.
Source: Azure RBAC: "Azure built-in roles"; "Understand scope for Azure RBAC".
"""

from __future__ import annotations

import re

from ..errors import ApiError, arm_error
from ..state import World

ASSIGN_ACTION = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"

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


def sees_subscription(world: World, principal_id: str) -> bool:
    """Whether any role assignment of the principal lies on, above or below the subscription."""
    prefix = f"/subscriptions/{world.subscription_id}"
    return any(ra.get("principalId") == principal_id
               and (_within(ra.get("scope", ""), prefix) or _within(prefix, ra.get("scope", "")))
               for ra in world.arm["role_assignments"])
