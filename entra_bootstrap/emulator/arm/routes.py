"""Azure Resource Manager on ``/arm/…`` (ARM base URL = ``world.arm_url``): the one route table and
the dispatcher. Paths are ARM's, case-insensitive like ARM; every request needs a Bearer token
for ARM (``auth.authenticate``) and an ``api-version`` — any well-formed one, never pinned, so
current SDKs and the Azure CLI both work. Any other ``/arm`` route answers 501 naming it.

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
  PUT | GET | DELETE {scope}/providers/Microsoft.Authorization/roleAssignments/{name}
  GET   {scope}/providers/Microsoft.Authorization/roleAssignments     list, $filter
  GET   {scope}/providers/Microsoft.Authorization/roleDefinitions[/{id}]   built-in roles
  GET   {rg}[/providers/{ns}/{type}/{name}]/providers/Microsoft.Authorization/permissions
        ({scope}: a subscription, a resource group or a resource; see authorization.py)

ARM checks in this order: subscription, authorization (``rbac``), resource group, resource.

Not emulated: creating or deleting VMs, scale sets, resource groups; PUT on VMs and scale sets;
paging (lists fit one page); custom role definitions, deny assignments, conditions; ETags; federated credentials on
user-assigned identities.
"""

from __future__ import annotations

import re
from typing import Awaitable, Callable

from aiohttp import web

from ..auth import authenticate
from ..errors import arm_error
from ..http import not_emulated, world_of
from .aci import get_group_resource, get_operation, patch_group_resource, put_group_resource, \
    restart_group, start_group, stop_group
from .authorization import delete_role_assignment, get_role_assignment, get_role_definition, \
    list_permissions, list_role_assignments, list_role_definitions, put_role_assignment
from .compute import get_vm, get_vmss, list_vmss_instances, manual_upgrade, patch_vm, patch_vmss
from .context import Ctx
from .msi import delete_identity_resource, get_identity_resource, list_identities_in_group, \
    list_identities_in_subscription, put_identity_resource
from .subscriptions import get_group, get_subscription, list_groups, list_subscriptions

ARM_PREFIX = "/arm"
API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-[a-z]+)?", re.I)


Handler = Callable[[Ctx], Awaitable[web.Response]]
_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourcegroups/(?P<rg>[^/]+)"
_VM = _RG + r"/providers/microsoft\.compute/virtualmachines/(?P<name>[^/]+)"
_VMSS = _RG + r"/providers/microsoft\.compute/virtualmachinescalesets/(?P<name>[^/]+)"
_CG = _RG + r"/providers/microsoft\.containerinstance/containergroups/(?P<name>[^/]+)"
_UAMI = r"/providers/microsoft\.managedidentity/userassignedidentities"
# Any scope (subscription, resource group, resource); the SDKs may send it after a double slash.
_SCOPE = r"/+(?P<scope>subscriptions/.+?)/providers/microsoft\.authorization"
_RG_SCOPE = r"/+(?P<scope>subscriptions/[^/]+/resourcegroups/.+?)/providers/microsoft\.authorization"

ROUTES: list[tuple[str, re.Pattern, Handler]] = [
    (m, re.compile(p, re.I), h) for m, p, h in [
        ("PUT", _SCOPE + r"/roleassignments/(?P<name>[^/]+)", put_role_assignment),
        ("GET", _SCOPE + r"/roleassignments/(?P<name>[^/]+)", get_role_assignment),
        ("DELETE", _SCOPE + r"/roleassignments/(?P<name>[^/]+)", delete_role_assignment),
        ("GET", _SCOPE + r"/roleassignments", list_role_assignments),
        ("GET", _SCOPE + r"/roledefinitions/(?P<name>[^/]+)", get_role_definition),
        ("GET", _SCOPE + r"/roledefinitions", list_role_definitions),
        ("GET", _RG_SCOPE + r"/permissions", list_permissions),
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


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", ARM_PREFIX + "/{tail:.*}", dispatch)
