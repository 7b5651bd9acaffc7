"""The seeded world every emulator starts with (and ``POST /_emulator/reset`` restores).

One tenant and one subscription; resource group ``myResourceGroup`` (eastus) with VM ``myVM``,
scale set ``myScaleSet`` and container group ``myContainerGroup`` (one running container); the
Microsoft Graph service principal with every app role and delegated scope of the packaged
graph-permissions.tsv; an operator (Graph Application.ReadWrite.All, AppRoleAssignment.ReadWrite.All,
DelegatedPermissionGrant.ReadWrite.All, Directory.Read.All; ARM Owner on the subscription) and a
reader (Graph Directory.Read.All; ARM Reader).

IDs are fixed so that documentation and users' scripts can name them; secrets are random per start
(a ``--state`` file keeps its own).
"""

from __future__ import annotations

import secrets

from ..permissions_catalog import graph_permissions  # noqa: F401 - the one catalog reader, re-exported
from .state import GRAPH_APP_ID

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUBSCRIPTION_ID = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
RESOURCE_GROUP = "myResourceGroup"
LOCATION = "eastus"

OPERATOR = "operator"
READER = "reader"
DEFAULT_CALLER = "default_caller"

GRAPH_SP_ID = "6a1f0c8e-2c3b-4c1e-9d1e-5f0c3a9b2e01"
_OPERATOR = {"appId": "a1b2c3d4-0001-4000-8000-000000000001",
             "appObjectId": "a1b2c3d4-0001-4000-8000-0000000000a1",
             "spId": "a1b2c3d4-0001-4000-8000-0000000000b1",
             "displayName": "entra-bootstrap-operator"}
_READER = {"appId": "a1b2c3d4-0002-4000-8000-000000000002",
           "appObjectId": "a1b2c3d4-0002-4000-8000-0000000000a2",
           "spId": "a1b2c3d4-0002-4000-8000-0000000000b2",
           "displayName": "entra-bootstrap-reader"}
OPERATOR_GRAPH_ROLES = ["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
                        "DelegatedPermissionGrant.ReadWrite.All", "Directory.Read.All"]
READER_GRAPH_ROLES = ["Directory.Read.All"]
CREATED = "2026-01-01T00:00:00Z"


def _graph_sp() -> dict:
    disabled = {"AgentCard.Read.All", "AgentCard.ReadWrite.All"}   # isEnabled=false in the source
    roles, scopes = [], []
    for name, kind, pid, admin in graph_permissions():
        if kind == "Role":
            roles.append({"allowedMemberTypes": ["Application"], "description": name,
                          "displayName": name, "id": pid, "isEnabled": name not in disabled,
                          "origin": "Application", "value": name})
        else:
            scopes.append({"adminConsentDescription": name, "adminConsentDisplayName": name,
                           "id": pid, "isEnabled": name not in disabled,
                           "type": "Admin" if admin else "User",
                           "userConsentDescription": name, "userConsentDisplayName": name,
                           "value": name})
    return {"id": GRAPH_SP_ID, "appId": GRAPH_APP_ID, "displayName": "Microsoft Graph",
            "appDisplayName": "Microsoft Graph", "servicePrincipalType": "Application",
            "accountEnabled": True, "appRoles": roles, "oauth2PermissionScopes": scopes,
            "servicePrincipalNames": [GRAPH_APP_ID, "https://graph.microsoft.com"],
            "appOwnerOrganizationId": "f8cdef31-a31e-4b4a-93e4-5f571e91255a", "tags": []}


def _app(p: dict) -> dict:
    return {"id": p["appObjectId"], "appId": p["appId"], "displayName": p["displayName"],
            "uniqueName": None, "signInAudience": "AzureADMyOrg", "createdDateTime": CREATED,
            "requiredResourceAccess": [], "identifierUris": [], "tags": [],
            "description": None, "notes": None}


def _sp(p: dict) -> dict:
    return {"id": p["spId"], "appId": p["appId"], "displayName": p["displayName"],
            "appDisplayName": p["displayName"], "servicePrincipalType": "Application",
            "accountEnabled": True, "appRoles": [], "oauth2PermissionScopes": [],
            "servicePrincipalNames": [p["appId"]], "appOwnerOrganizationId": TENANT_ID, "tags": []}


def _assignments(p: dict, role_names: list[str], graph_sp: dict) -> dict:
    by_name = {r["value"]: r["id"] for r in graph_sp["appRoles"]}
    out = {}
    for i, name in enumerate(role_names):
        aid = f"{p['spId'][:-4]}{i:04d}"
        out[aid] = {"id": aid, "principalId": p["spId"], "principalType": "ServicePrincipal",
                    "principalDisplayName": p["displayName"], "resourceId": GRAPH_SP_ID,
                    "resourceDisplayName": "Microsoft Graph", "appRoleId": by_name[name],
                    "createdDateTime": CREATED, "deletedDateTime": None}
    return out


def _rg_id(name: str = RESOURCE_GROUP) -> str:
    return f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{name}"


def _seed_arm() -> dict:
    rg = _rg_id()
    vm_id = f"{rg}/providers/Microsoft.Compute/virtualMachines/myVM"
    vmss_id = f"{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/myScaleSet"
    cg_id = f"{rg}/providers/Microsoft.ContainerInstance/containerGroups/myContainerGroup"
    vm = {"id": vm_id, "name": "myVM", "type": "Microsoft.Compute/virtualMachines",
          "location": LOCATION, "tags": {},
          "properties": {"vmId": "5c3b1f2e-8a4d-4f6b-9c7e-1d2a3b4c5d6e",
                         "hardwareProfile": {"vmSize": "Standard_B2s"},
                         "storageProfile": {"osDisk": {"osType": "Linux", "name": "myVM_OsDisk",
                                                       "createOption": "FromImage"}},
                         "osProfile": {"computerName": "myVM", "adminUsername": "azureuser"},
                         "networkProfile": {"networkInterfaces": [
                             {"id": f"{rg}/providers/Microsoft.Network/networkInterfaces/myVMNic"}]},
                         "provisioningState": "Succeeded"}}
    vmss = {"id": vmss_id, "name": "myScaleSet", "type": "Microsoft.Compute/virtualMachineScaleSets",
            "location": LOCATION, "tags": {},
            "sku": {"name": "Standard_B2s", "tier": "Standard", "capacity": 2},
            "properties": {"uniqueId": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
                           "upgradePolicy": {"mode": "Manual"},
                           "virtualMachineProfile": {"osProfile": {"computerNamePrefix": "myscale",
                                                                   "adminUsername": "azureuser"}},
                           "provisioningState": "Succeeded", "overprovision": True,
                           "singlePlacementGroup": True}}
    cg = {"id": cg_id, "name": "myContainerGroup",
          "type": "Microsoft.ContainerInstance/containerGroups", "location": LOCATION, "tags": {},
          "properties": {
              "sku": "Standard", "provisioningState": "Succeeded", "osType": "Linux",
              "restartPolicy": "Always",
              "containers": [{"name": "web", "properties": {
                  "image": "mcr.microsoft.com/azuredocs/aci-helloworld:latest",
                  "command": [], "ports": [{"protocol": "TCP", "port": 80}],
                  "environmentVariables": [{"name": "GREETING", "value": "hello"}],
                  "resources": {"requests": {"memoryInGB": 1.5, "cpu": 1.0}},
                  "instanceView": {"restartCount": 0,
                                   "currentState": {"state": "Running",
                                                    "startTime": CREATED,
                                                    "detailStatus": ""},
                                   "events": []}}}],
              "ipAddress": {"ports": [{"protocol": "TCP", "port": 80}], "type": "Public",
                            "ip": "20.0.0.4"},
              "instanceView": {"events": [], "state": "Running"}}}
    return {
        "resource_groups": {RESOURCE_GROUP.lower(): {
            "id": rg, "name": RESOURCE_GROUP, "type": "Microsoft.Resources/resourceGroups",
            "location": LOCATION, "tags": {}, "properties": {"provisioningState": "Succeeded"}}},
        "resources": {vm_id.lower(): vm, vmss_id.lower(): vmss, cg_id.lower(): cg},
        "role_assignments": [
            {"principalId": _OPERATOR["spId"], "roleDefinitionName": "Owner",
             "scope": f"/subscriptions/{SUBSCRIPTION_ID}"},
            {"principalId": _READER["spId"], "roleDefinitionName": "Reader",
             "scope": f"/subscriptions/{SUBSCRIPTION_ID}"},
        ],
    }


def seed_world(base_url: str) -> dict:
    graph_sp = _graph_sp()
    assignments = {**_assignments(_OPERATOR, OPERATOR_GRAPH_ROLES, graph_sp),
                   **_assignments(_READER, READER_GRAPH_ROLES, graph_sp)}
    arm = _seed_arm()
    return {
        "tenant_id": TENANT_ID,
        "subscription_id": SUBSCRIPTION_ID,
        "subscription": {"displayName": "Emulated Subscription", "state": "Enabled"},
        "seed": {OPERATOR: dict(_OPERATOR), READER: dict(_READER),
                 DEFAULT_CALLER: f"{_rg_id()}/providers/Microsoft.Compute/virtualMachines/myVM"},
        "secrets": {_OPERATOR["appId"]: secrets.token_urlsafe(30),
                    _READER["appId"]: secrets.token_urlsafe(30)},
        "graph": {
            "applications": {p["appObjectId"]: _app(p) for p in (_OPERATOR, _READER)},
            "servicePrincipals": {GRAPH_SP_ID: graph_sp,
                                  **{p["spId"]: _sp(p) for p in (_OPERATOR, _READER)}},
            "federatedIdentityCredentials": {},
            "owners": {},
            "appRoleAssignments": assignments,
            "oauth2PermissionGrants": {},
        },
        "arm": arm,
    }
