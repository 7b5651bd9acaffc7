"""Azure RBAC as ARM checks it: ``arm.role_assignments`` matched by the caller's object id and
scope prefix, with the actions and notActions of the built-in roles (``BUILTIN_ROLES``: Owner,
Contributor, Reader, User Access Administrator, Virtual Machine Contributor, Managed Identity
Operator / Contributor, a few data-plane roles; their real ids, served by authorization.py), and
ARM's 403s (``AuthorizationFailed``, ``LinkedAuthorizationFailed``). No HTTP.
Source: Azure RBAC: "Azure built-in roles"; "Understand scope for Azure RBAC".
"""

from __future__ import annotations

import re

from ..errors import ApiError, arm_error
from ..state import World

ASSIGN_ACTION = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"

# NOTE: the built-in roles with their real ids, actions and notActions (Azure RBAC: "Azure
# built-in roles", learn.microsoft.com/azure/role-based-access-control/built-in-roles), the
# actions cut to the resource providers the emulator serves (data-plane roles keep their
# dataActions). ``GET …/providers/Microsoft.Authorization/roleDefinitions`` serves them.
BUILTIN_ROLES: dict[str, dict] = {
    "Owner": {"id": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "actions": ("*",),
              "description": "Grants full access to manage all resources, including the ability to "
                             "assign roles in Azure RBAC."},
    "Contributor": {"id": "b24988ac-6180-42a0-ab88-20f7382dd24c", "actions": ("*",),
                    "notActions": ("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
                                   "Microsoft.Authorization/elevateAccess/Action"),
                    "description": "Grants full access to manage all resources, but does not allow you "
                                   "to assign roles in Azure RBAC."},
    "Reader": {"id": "acdd72a7-3385-48ef-bd42-f606fba81ae7", "actions": ("*/read",),
               "description": "View all resources, but does not allow you to make any changes."},
    "User Access Administrator": {
        "id": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        "actions": ("*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"),
        "description": "Lets you manage user access to Azure resources."},
    "Role Based Access Control Administrator": {
        "id": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
        "actions": ("Microsoft.Authorization/roleAssignments/write",
                    "Microsoft.Authorization/roleAssignments/delete", "*/read", "Microsoft.Support/*"),
        "description": "Manage access to Azure resources by assigning roles using Azure RBAC."},
    "Virtual Machine Contributor": {
        "id": "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
        "actions": ("Microsoft.Authorization/*/read", "Microsoft.Compute/availabilitySets/*",
                    "Microsoft.Compute/locations/*", "Microsoft.Compute/virtualMachines/*",
                    "Microsoft.Compute/virtualMachineScaleSets/*", "Microsoft.Compute/disks/*",
                    "Microsoft.Network/*/read", "Microsoft.Resources/deployments/*",
                    "Microsoft.Resources/subscriptions/resourceGroups/read"),
        "description": "Create and manage virtual machines, but not access to them, and not the "
                       "virtual network or storage account they're connected to."},
    "Managed Identity Operator": {
        "id": "f1a07417-d97a-45cb-824c-7a7467783830",
        "actions": ("Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
                    "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
                    "Microsoft.Authorization/*/read", "Microsoft.Resources/deployments/*",
                    "Microsoft.Resources/subscriptions/resourceGroups/read"),
        "description": "Read and Assign User Assigned Identity"},
    "Managed Identity Contributor": {
        "id": "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59",
        "actions": ("Microsoft.ManagedIdentity/userAssignedIdentities/read",
                    "Microsoft.ManagedIdentity/userAssignedIdentities/write",
                    "Microsoft.ManagedIdentity/userAssignedIdentities/delete",
                    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/*",
                    "Microsoft.Authorization/*/read", "Microsoft.Resources/deployments/*",
                    "Microsoft.Resources/subscriptions/resourceGroups/read"),
        "description": "Create, Read, Update, and Delete User Assigned Identity"},
    "Storage Blob Data Reader": {
        "id": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
        "actions": ("Microsoft.Storage/storageAccounts/blobServices/containers/read",
                    "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"),
        "dataActions": ("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",),
        "description": "Read and list Azure Storage containers and blobs."},
    "Storage Blob Data Contributor": {
        "id": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        "actions": ("Microsoft.Storage/storageAccounts/blobServices/containers/delete",
                    "Microsoft.Storage/storageAccounts/blobServices/containers/read",
                    "Microsoft.Storage/storageAccounts/blobServices/containers/write",
                    "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"),
        "dataActions": ("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
                        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
                        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
                        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
                        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action"),
        "description": "Read, write, and delete Azure Storage containers and blobs."},
    "Key Vault Secrets User": {
        "id": "4633458b-17de-408a-b874-0445c86b69e6", "actions": (),
        "dataActions": ("Microsoft.KeyVault/vaults/secrets/getSecret/action",
                        "Microsoft.KeyVault/vaults/secrets/readMetadata/action"),
        "description": "Read secret contents."},
    "Key Vault Reader": {
        "id": "21090545-7ca7-4776-b22c-e363652d74d2",
        "actions": ("Microsoft.Authorization/*/read", "Microsoft.KeyVault/checkNameAvailability/read",
                    "Microsoft.KeyVault/deletedVaults/read", "Microsoft.KeyVault/locations/*/read",
                    "Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/operations/read"),
        "dataActions": ("Microsoft.KeyVault/vaults/*/read",
                        "Microsoft.KeyVault/vaults/secrets/readMetadata/action"),
        "description": "Read metadata of key vaults and its certificates, keys, and secrets."},
    "AcrPull": {"id": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
                "actions": ("Microsoft.ContainerRegistry/registries/pull/read",),
                "description": "acr pull"},
    "Monitoring Reader": {"id": "43d0d8ad-25c7-4714-9337-8ba259a9fe05",
                          "actions": ("*/read", "Microsoft.OperationalInsights/workspaces/search/action",
                                      "Microsoft.Support/*"),
                          "description": "Can read all monitoring data."},
}
ROLE_BY_ID: dict[str, str] = {r["id"]: name for name, r in BUILTIN_ROLES.items()}
ROLE_ACTIONS: dict[str, tuple[str, ...]] = {name.lower(): r["actions"] for name, r in BUILTIN_ROLES.items()}
ROLE_NOT_ACTIONS: dict[str, tuple[str, ...]] = {name.lower(): r.get("notActions", ())
                                                for name, r in BUILTIN_ROLES.items()}


def _pattern(action_glob: str) -> re.Pattern:
    # ARM wildcards: '*' spans segments, and 'a/*/read' also covers 'a/read'.
    rx = re.escape(action_glob.lower()).replace(r"/\*/", "/(?:.*/)?").replace(r"\*", ".*")
    return re.compile(rx)


_ROLE_PATTERNS = {role: tuple(_pattern(a) for a in actions) for role, actions in ROLE_ACTIONS.items()}
_ROLE_NOT_PATTERNS = {role: tuple(_pattern(a) for a in acts) for role, acts in ROLE_NOT_ACTIONS.items()}


def _within(scope: str, assignment_scope: str) -> bool:
    s, a = scope.lower().rstrip("/"), assignment_scope.lower().rstrip("/")
    return s == a or s.startswith(a + "/")


def allowed(world: World, principal_id: str, action: str, scope: str) -> bool:
    act = action.lower()
    for ra in world.arm["role_assignments"]:
        if ra.get("principalId") != principal_id or not _within(scope, ra.get("scope", "")):
            continue
        role = role_name_of(ra).lower()
        if any(p.fullmatch(act) for p in _ROLE_PATTERNS.get(role, ())) and \
                not any(p.fullmatch(act) for p in _ROLE_NOT_PATTERNS.get(role, ())):
            return True
    return False


def role_name_of(ra: dict) -> str:
    """The built-in role of an assignment of the state: its ``roleDefinitionName`` (what a
    hand-edited state gives) or the role its ``roleDefinitionId`` names."""
    if ra.get("roleDefinitionName"):
        return ra["roleDefinitionName"]
    return ROLE_BY_ID.get((ra.get("roleDefinitionId") or "").rsplit("/", 1)[-1].lower(), "")


def role_actions(role: str) -> dict:
    """The permission block of a built-in role (``Permissions - List`` and role definitions)."""
    r = BUILTIN_ROLES.get(role, {})
    return {"actions": list(r.get("actions", ())), "notActions": list(r.get("notActions", ())),
            "dataActions": list(r.get("dataActions", ())), "notDataActions": []}


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
