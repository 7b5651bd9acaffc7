"""The emulator's Azure Resource Manager, driven through the real azure-mgmt-* SDKs (async clients,
as the tool uses them) over HTTPS: subscriptions, resource groups, VM and scale-set identity PATCH
with ARM's merge semantics, container group PUT/PATCH/stop and its Azure-AsyncOperation polling,
user-assigned identities, RBAC refusals and the ARM error catalog."""

from __future__ import annotations

import asyncio
import copy
import json
import ssl
import time
import urllib.error
import urllib.request

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest

RG = "myResourceGroup"


# --- helpers ------------------------------------------------------------------------------------

def credential(emu, reader: bool = False):
    from azure.identity.aio import ClientSecretCredential

    env = emu.env
    cid, secret = ((env["EMULATOR_READER_CLIENT_ID"], env["EMULATOR_READER_CLIENT_SECRET"]) if reader
                   else (env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"]))
    return ClientSecretCredential(env["AZURE_TENANT_ID"], cid, secret, authority=emu.url,
                                  disable_instance_discovery=True, connection_verify=emu.ca)


def client_kwargs(emu, **extra) -> dict:
    arm = emu.env["ENTRA_BOOTSTRAP_ARM_ENDPOINT"]
    kw = dict(base_url=arm, connection_verify=emu.ca, polling_interval=0,
              credential_scopes=[arm + "/.default"])
    kw.update(extra)
    return kw


class Clients:
    """The three async management clients on one credential, closed together."""

    def __init__(self, emu, reader: bool = False, **extra):
        from azure.mgmt.compute.aio import ComputeManagementClient
        from azure.mgmt.containerinstance.aio import ContainerInstanceManagementClient
        from azure.mgmt.msi.aio import ManagedServiceIdentityClient

        self.cred = credential(emu, reader)
        sub = emu.env["AZURE_SUBSCRIPTION_ID"]
        kw = client_kwargs(emu, **extra)
        self.compute = ComputeManagementClient(self.cred, sub, **kw)
        self.msi = ManagedServiceIdentityClient(self.cred, sub, **kw)
        self.aci = ContainerInstanceManagementClient(self.cred, sub, **kw)
        self.sub = sub
        self.arm = emu.env["ENTRA_BOOTSTRAP_ARM_ENDPOINT"]

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        for c in (self.compute, self.msi, self.aci, self.cred):
            await c.close()

    async def raw(self, method: str, path: str, body=None):
        """A request through the compute client's pipeline (auth, TLS): for routes no SDK here has."""
        req = HttpRequest(method, self.arm + path, json=body)
        return await self.compute.send_request(req)   # not streamed: the body is read


def arm_requests(emu) -> list[dict]:
    return [r for r in emu.requests() if r["path"].startswith("/arm/")]


def run(coro):
    return asyncio.run(coro)


def identity_id(sub: str, name: str, rg: str = RG) -> str:
    return (f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/"
            f"userAssignedIdentities/{name}")


def error_of(exc: HttpResponseError) -> tuple[int, str, str]:
    return exc.status_code, exc.error.code, exc.error.message


def set_roles(emu, who: str, roles: list[tuple[str, str]]) -> str:
    """Replace the ARM role assignments of the seeded ``who`` (operator|reader); returns its oid."""
    state = emu.state()
    oid = state["seed"][who]["spId"]
    kept = [ra for ra in state["arm"]["role_assignments"] if ra["principalId"] != oid]
    state["arm"]["role_assignments"] = kept + [
        {"principalId": oid, "roleDefinitionName": r, "scope": s} for r, s in roles]
    emu.control("PUT", "/_emulator/state", state)
    return oid


def raw_https(emu, method: str, path: str, headers: dict | None = None):
    ctx = ssl.create_default_context(cafile=emu.ca)
    req = urllib.request.Request(emu.url + path, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


async def make_identity(c: Clients, name: str, **body):
    return await c.msi.user_assigned_identities.create_or_update(RG, name, {"location": "eastus", **body})


# --- subscriptions, resource groups, protocol errors ---------------------------------------------

def test_subscriptions_and_resource_groups(emu):
    async def scenario():
        async with Clients(emu) as c:
            subs = (await c.raw("GET", "/subscriptions?api-version=2022-12-01")).json()["value"]
            sub = (await c.raw("GET", f"/subscriptions/{c.sub}?api-version=2022-12-01")).json()
            missing = await c.raw("GET", "/subscriptions/00000000-0000-0000-0000-000000000009"
                                         "?api-version=2022-12-01")
            rgs = (await c.raw("GET", f"/subscriptions/{c.sub}/resourcegroups?api-version=2021-04-01")).json()
            rg = (await c.raw("GET", f"/subscriptions/{c.sub}/resourceGroups/myresourcegroup"
                                     "?api-version=2021-04-01")).json()
            head = await c.raw("HEAD", f"/subscriptions/{c.sub}/resourcegroups/{RG}?api-version=2021-04-01")
            nope = await c.raw("GET", f"/subscriptions/{c.sub}/resourcegroups/nope?api-version=2021-04-01")
            return subs, sub, missing, rgs, rg, head, nope

    subs, sub, missing, rgs, rg, head, nope = run(scenario())
    assert [s["subscriptionId"] for s in subs] == [emu.env["AZURE_SUBSCRIPTION_ID"]]
    assert sub["displayName"] and sub["state"] == "Enabled"
    assert sub["tenantId"] == emu.env["AZURE_TENANT_ID"]
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "SubscriptionNotFound"
    assert [g["name"] for g in rgs["value"]] == [RG]
    assert rg["name"] == RG and rg["location"] == "eastus"
    assert head.status_code == 204
    assert nope.status_code == 404
    assert nope.json() == {"error": {"code": "ResourceGroupNotFound",
                                     "message": "Resource group 'nope' could not be found."}}


def test_api_version_token_and_unknown_routes(emu):
    sub = emu.env["AZURE_SUBSCRIPTION_ID"]

    async def scenario():
        async with Clients(emu) as c:
            no_version = await c.raw("GET", f"/subscriptions/{sub}/resourcegroups/{RG}")
            bad_version = await c.raw("GET", f"/subscriptions/{sub}/resourcegroups/{RG}?api-version=latest")
            unknown = await c.raw("GET", f"/subscriptions/{sub}/providers/Microsoft.Web/sites?api-version=2023-01-01")
            return no_version, bad_version, unknown

    no_version, bad_version, unknown = run(scenario())
    assert no_version.status_code == 400
    assert no_version.json()["error"] == {
        "code": "MissingApiVersionParameter",
        "message": "The api-version query parameter (?api-version=) is required for all requests."}
    assert bad_version.status_code == 400
    assert bad_version.json()["error"]["code"] == "InvalidApiVersionParameter"
    assert unknown.status_code == 501 and "Microsoft.Web/sites" in unknown.json()["error"]["message"]
    status, body = raw_https(emu, "GET", f"/arm/subscriptions/{sub}?api-version=2022-12-01")
    assert status == 401 and body["error"]["code"] == "AuthenticationFailed"


# --- virtual machines ---------------------------------------------------------------------------

def test_vm_get_and_not_found_shapes(emu):
    async def scenario():
        async with Clients(emu) as c:
            vm = await c.compute.virtual_machines.get(RG, "myVM")
            with pytest.raises(ResourceNotFoundError) as missing_vm:
                await c.compute.virtual_machines.get(RG, "noSuchVM")
            with pytest.raises(ResourceNotFoundError) as missing_rg:
                await c.compute.virtual_machines.get("noSuchGroup", "myVM")
            return vm, missing_vm.value, missing_rg.value

    vm, missing_vm, missing_rg = run(scenario())
    assert vm.name == "myVM" and vm.location == "eastus" and vm.identity is None
    assert error_of(missing_vm) == (
        404, "ResourceNotFound",
        "The Resource 'Microsoft.Compute/virtualMachines/noSuchVM' under resource group "
        "'myResourceGroup' was not found. For more details please go to "
        "https://aka.ms/ARMResourceNotFoundFix")
    assert error_of(missing_rg) == (404, "ResourceGroupNotFound",
                                    "Resource group 'noSuchGroup' could not be found.")


def test_vm_identity_merge_semantics(emu):
    sub = emu.env["AZURE_SUBSCRIPTION_ID"]
    id1, id2 = identity_id(sub, "id-one"), identity_id(sub, "id-two")

    async def scenario():
        async with Clients(emu) as c:
            one = await make_identity(c, "id-one")
            two = await make_identity(c, "id-two")
            vms = c.compute.virtual_machines
            steps = {}
            steps["system"] = await (await vms.begin_update(
                RG, "myVM", {"identity": {"type": "SystemAssigned"}})).result()
            steps["both"] = await (await vms.begin_update(RG, "myVM", {"identity": {
                "type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {id1: {}}}})).result()
            # Lower-cased id and the other identity in one call: the map merges.
            steps["two_users"] = await (await vms.begin_update(RG, "myVM", {"identity": {
                "type": "SystemAssigned,UserAssigned", "userAssignedIdentities": {id2: {}}}})).result()
            steps["null_removes"] = await (await vms.begin_update(RG, "myVM", {"identity": {
                "type": "SystemAssigned, UserAssigned",
                "userAssignedIdentities": {id1.lower(): None}}})).result()
            steps["system_only_drops_users"] = await (await vms.begin_update(
                RG, "myVM", {"identity": {"type": "SystemAssigned"}})).result()
            steps["user_only_drops_system"] = await (await vms.begin_update(RG, "myVM", {"identity": {
                "type": "UserAssigned", "userAssignedIdentities": {id1: {}}}})).result()
            steps["none"] = await (await vms.begin_update(RG, "myVM", {"identity": {"type": "None"}})).result()
            steps["get"] = await vms.get(RG, "myVM")
            return one, two, steps

    state_before = emu.state()
    one, two, s = run(scenario())
    system = s["system"].identity
    assert system.type == "SystemAssigned" and system.principal_id and system.tenant_id == emu.env["AZURE_TENANT_ID"]
    both = s["both"].identity
    assert both.type == "SystemAssigned, UserAssigned"
    assert both.principal_id == system.principal_id            # the principal survives
    assert {k: (v.principal_id, v.client_id) for k, v in both.user_assigned_identities.items()} == {
        id1: (one.principal_id, one.client_id)}
    assert set(s["two_users"].identity.user_assigned_identities) == {id1, id2}
    assert set(s["null_removes"].identity.user_assigned_identities) == {id2}
    dropped = s["system_only_drops_users"].identity
    assert dropped.type == "SystemAssigned" and not dropped.user_assigned_identities
    assert dropped.principal_id == system.principal_id
    user_only = s["user_only_drops_system"].identity
    assert user_only.type == "UserAssigned" and user_only.principal_id is None
    assert set(user_only.user_assigned_identities) == {id1}
    assert s["none"].identity is None and s["get"].identity is None
    assert s["get"].properties.provisioning_state == "Succeeded"
    # Enabling system-assigned made a ManagedIdentity service principal; disabling deleted it.
    assert system.principal_id not in state_before["graph"]["servicePrincipals"]
    sps = emu.state()["graph"]["servicePrincipals"]
    assert system.principal_id not in sps
    assert sps[two.principal_id]["servicePrincipalType"] == "ManagedIdentity"


def test_system_assigned_principal_is_visible_to_graph_while_enabled(emu):
    async def scenario():
        async with Clients(emu) as c:
            poller = await c.compute.virtual_machines.begin_update(
                RG, "myVM", {"identity": {"type": "SystemAssigned"}})
            return await poller.result()

    vm = run(scenario())
    sp = emu.state()["graph"]["servicePrincipals"][vm.identity.principal_id]
    assert sp["servicePrincipalType"] == "ManagedIdentity" and sp["displayName"] == "myVM"


def test_vm_identity_errors(emu):
    sub = emu.env["AZURE_SUBSCRIPTION_ID"]
    ghost = identity_id(sub, "ghost")
    vm_id = f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/myVM"

    async def attempt(c, identity):
        with pytest.raises(HttpResponseError) as err:
            await (await c.compute.virtual_machines.begin_update(RG, "myVM", {"identity": identity})).result()
        return err.value

    async def scenario():
        async with Clients(emu) as c:
            missing = await attempt(c, {"type": "UserAssigned", "userAssignedIdentities": {ghost: {}}})
            malformed = await attempt(c, {"type": "UserAssigned", "userAssignedIdentities": {"/not/an/id": {}}})
            bad_type = await attempt(c, {"type": "Both"})
            ids_without_type = await attempt(c, {"type": "SystemAssigned",
                                                 "userAssignedIdentities": {ghost: {}}})
            return missing, malformed, bad_type, ids_without_type

    emu.clear_requests()
    missing, malformed, bad_type, ids_without_type = run(scenario())
    assert missing.status_code == 400 and missing.error.code == "FailedIdentityOperation"
    assert missing.error.message.startswith(f"Identity operation for resource '{vm_id}' failed")
    assert f"Resource '{ghost.lower()}' was not found." in missing.error.message
    assert (malformed.status_code, malformed.error.code) == (400, "InvalidParameter")
    assert "/not/an/id" in malformed.error.message
    assert (bad_type.status_code, bad_type.error.code) == (400, "InvalidParameter")
    assert (ids_without_type.status_code, ids_without_type.error.code) == (400, "InvalidParameter")
    assert emu.writes() == [] or all(w["status"] >= 400 for w in emu.writes())
    assert "identity" not in emu.state()["arm"]["resources"][vm_id.lower()]


# --- scale sets -----------------------------------------------------------------------------------

def test_scale_set_identity_and_manual_upgrade(emu):
    sub = emu.env["AZURE_SUBSCRIPTION_ID"]
    id1 = identity_id(sub, "ss-identity")

    async def scenario():
        async with Clients(emu) as c:
            await make_identity(c, "ss-identity")
            ss = c.compute.virtual_machine_scale_sets
            before = [i.properties.latest_model_applied
                      async for i in c.compute.virtual_machine_scale_set_vms.list(RG, "myScaleSet")]
            patched = await (await ss.begin_update(RG, "myScaleSet", {"identity": {
                "type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {id1: {}}}})).result()
            stale = [(i.instance_id, i.properties.latest_model_applied)
                     async for i in c.compute.virtual_machine_scale_set_vms.list(RG, "myScaleSet")]
            await (await ss.begin_update_instances(
                RG, "myScaleSet", {"instanceIds": [i for i, _ in stale]})).result()
            upgraded = [i.properties.latest_model_applied
                        async for i in c.compute.virtual_machine_scale_set_vms.list(RG, "myScaleSet")]
            dropped = await (await ss.begin_update(
                RG, "myScaleSet", {"identity": {"type": "SystemAssigned"},
                                   "properties": {"upgradePolicy": {"mode": "Automatic"}}})).result()
            after_auto = [i.properties.latest_model_applied
                          async for i in c.compute.virtual_machine_scale_set_vms.list(RG, "myScaleSet")]
            got = await ss.get(RG, "myScaleSet")
            return before, patched, stale, upgraded, dropped, after_auto, got

    before, patched, stale, upgraded, dropped, after_auto, got = run(scenario())
    assert before == [True, True]
    assert patched.identity.type == "SystemAssigned, UserAssigned" and patched.identity.principal_id
    assert set(patched.identity.user_assigned_identities) == {id1}
    assert stale == [("0", False), ("1", False)]           # Manual policy: instances lag the model
    assert upgraded == [True, True]
    assert dropped.identity.type == "SystemAssigned" and not dropped.identity.user_assigned_identities
    assert dropped.identity.principal_id == patched.identity.principal_id
    assert got.properties.upgrade_policy.mode == "Automatic"
    assert after_auto == [True, True]


def test_scale_set_upgrade_rejects_unknown_instance(emu):
    async def scenario():
        async with Clients(emu) as c:
            with pytest.raises(HttpResponseError) as err:
                await (await c.compute.virtual_machine_scale_sets.begin_update_instances(
                    RG, "myScaleSet", {"instanceIds": ["7"]})).result()
            return err.value

    err = run(scenario())
    assert (err.status_code, err.error.code) == (400, "InvalidParameter")


# --- container groups -----------------------------------------------------------------------------

def _definition(group) -> dict:
    """What an identity PUT must keep: containers, ports, env vars, restart policy, OS, IP."""
    d = group.as_dict()
    containers = []
    for c in d["containers"]:
        c = copy.deepcopy(c)
        c.pop("instance_view", None)
        containers.append(c)
    ip = dict(d.get("ip_address") or {})
    return {"containers": containers, "restart_policy": d.get("restart_policy"),
            "os_type": d.get("os_type"), "ip": ip, "sku": d.get("sku"), "tags": d.get("tags")}


def test_container_group_put_keeps_definition_restarts_and_polls(emu):
    from azure.mgmt.containerinstance.models import ContainerGroupIdentity, UserAssignedIdentities

    sub = emu.env["AZURE_SUBSCRIPTION_ID"]
    id1 = identity_id(sub, "aci-identity")

    async def scenario():
        async with Clients(emu) as c:
            await make_identity(c, "aci-identity")
            groups = c.aci.container_groups
            before = await groups.get(RG, "myContainerGroup")
            emu.clear_requests()
            before.identity = ContainerGroupIdentity(
                type="SystemAssigned, UserAssigned", user_assigned_identities={id1: UserAssignedIdentities()})
            poller = await groups.begin_create_or_update(RG, "myContainerGroup", before)
            after = await poller.result()
            log = arm_requests(emu)
            got = await groups.get(RG, "myContainerGroup")
            return before, after, got, log

    before, after, got, log = run(scenario())
    assert _definition(got) == _definition(before)
    assert got.identity.type == "SystemAssigned, UserAssigned" and got.identity.principal_id
    assert got.identity.user_assigned_identities[id1].principal_id
    view = got.containers[0].instance_view
    assert view.restart_count == 1 and view.current_state.state == "Running"
    assert [e.name for e in view.events][-2:] == ["Killing", "Started"]
    assert after.provisioning_state == "Succeeded"
    methods = [(r["method"], r["status"], "/operations/" in r["path"]) for r in log]
    # PUT answered 200 (existing group) with Azure-AsyncOperation; polled to Succeeded; final GET.
    assert methods == [("PUT", 200, False), ("GET", 200, True), ("GET", 200, True), ("GET", 200, False)]


def test_container_group_create_answers_201_and_failed_operation_reports_code(emu):
    from azure.mgmt.containerinstance.models import (
        Container, ContainerGroup, ResourceRequests, ResourceRequirements)

    def group(image: str) -> ContainerGroup:
        return ContainerGroup(location="eastus", os_type="Linux", containers=[Container(
            name="app", image=image,
            resources=ResourceRequirements(requests=ResourceRequests(memory_in_gb=1.0, cpu=1.0)))])

    async def scenario():
        async with Clients(emu) as c:
            emu.clear_requests()
            created = await (await c.aci.container_groups.begin_create_or_update(
                RG, "new-group", group("mcr.microsoft.com/azuredocs/aci-helloworld"))).result()
            first_status = arm_requests(emu)[0]["status"]
            with pytest.raises(HttpResponseError) as failed:
                await (await c.aci.container_groups.begin_create_or_update(
                    RG, "broken-group", group("registry.invalid/app:1"))).result()
            with pytest.raises(HttpResponseError) as bad_name:
                await c.aci.container_groups.begin_create_or_update(RG, "Bad_Name", group("nginx"))
            return created, first_status, failed.value, bad_name.value

    created, first_status, failed, bad_name = run(scenario())
    assert first_status == 201 and created.provisioning_state == "Succeeded"
    assert created.containers[0].instance_view.restart_count == 0
    assert "InaccessibleImage" in str(failed)
    assert "registry.invalid/app:1" in str(failed)
    broken = emu.state()["arm"]["resources"]
    assert any(r["name"] == "broken-group" and r["properties"]["provisioningState"] == "Failed"
               for r in broken.values())
    assert (bad_name.status_code, bad_name.error.code) == (400, "InvalidResourceName")


def test_container_group_patch_changes_tags_only_and_stop_terminates(emu):
    async def scenario():
        async with Clients(emu) as c:
            groups = c.aci.container_groups
            before = await groups.get(RG, "myContainerGroup")
            patched = await groups.update(RG, "myContainerGroup", {"tags": {"team": "ops"}})
            await groups.stop(RG, "myContainerGroup")
            stopped = await groups.get(RG, "myContainerGroup")
            return before, patched, stopped

    before, patched, stopped = run(scenario())
    assert patched.tags == {"team": "ops"}
    assert patched.containers[0].as_dict()["environment_variables"] == \
        before.containers[0].as_dict()["environment_variables"]
    assert patched.containers[0].instance_view.restart_count == 0
    assert stopped.instance_view.state == "Stopped"
    assert stopped.containers[0].instance_view.current_state.state == "Terminated"


def test_container_group_secure_values_are_never_returned(emu):
    from azure.mgmt.containerinstance.models import (
        Container, ContainerGroup, EnvironmentVariable, ResourceRequests, ResourceRequirements)

    async def scenario():
        async with Clients(emu) as c:
            g = ContainerGroup(location="eastus", os_type="Linux", containers=[Container(
                name="app", image="nginx", environment_variables=[
                    EnvironmentVariable(name="PLAIN", value="1"),
                    EnvironmentVariable(name="SECRET", secure_value="s3cret")],
                resources=ResourceRequirements(requests=ResourceRequests(memory_in_gb=1.0, cpu=1.0)))])
            await (await c.aci.container_groups.begin_create_or_update(RG, "secure-group", g)).result()
            return await c.aci.container_groups.get(RG, "secure-group")

    got = run(scenario())
    env = {e.name: (e.value, e.secure_value) for e in got.containers[0].environment_variables}
    assert env == {"PLAIN": ("1", None), "SECRET": (None, None)}
    assert "s3cret" not in json.dumps(got.as_dict())


def test_stock_sdk_polling_falls_back_to_its_interval_when_server_says_zero(emu):
    """Why our client sets its own polling: azure-core treats ``Retry-After: 0`` as absent and waits
    ``polling_interval`` instead — here 0.2 s once (one InProgress poll), proving the header is what the emulator sent."""
    async def scenario():
        async with Clients(emu, polling_interval=0.2) as c:
            g = await c.aci.container_groups.get(RG, "myContainerGroup")
            start = time.monotonic()
            await (await c.aci.container_groups.begin_create_or_update(RG, "myContainerGroup", g)).result()
            return time.monotonic() - start

    elapsed = run(scenario())
    assert 0.2 <= elapsed < 5


# --- user-assigned identities -----------------------------------------------------------------------

def test_user_assigned_identity_lifecycle(emu):
    sub = emu.env["AZURE_SUBSCRIPTION_ID"]

    async def scenario():
        async with Clients(emu) as c:
            uami = c.msi.user_assigned_identities
            emu.clear_requests()
            created = await make_identity(c, "app-identity", tags={"a": "1"})
            updated = await make_identity(c, "app-identity", tags={"a": "2"})
            statuses = [r["status"] for r in arm_requests(emu)]
            got = await uami.get(RG, "app-identity")
            in_group = [i.name async for i in uami.list_by_resource_group(RG)]
            in_sub = [i.name async for i in uami.list_by_subscription()]
            await uami.delete(RG, "app-identity")
            with pytest.raises(ResourceNotFoundError) as gone:
                await uami.get(RG, "app-identity")
            await uami.delete(RG, "app-identity")        # deleting again: 204, no error
            return created, updated, statuses, got, in_group, in_sub, gone.value

    state0 = emu.state()
    created, updated, statuses, got, in_group, in_sub, gone = run(scenario())
    assert statuses == [201, 200]
    assert created.id == identity_id(sub, "app-identity")
    assert created.tenant_id == emu.env["AZURE_TENANT_ID"]
    assert (updated.principal_id, updated.client_id) == (created.principal_id, created.client_id)
    assert updated.tags == {"a": "2"} and got.tags == {"a": "2"}
    assert in_group == ["app-identity"] and in_sub == ["app-identity"]
    assert gone.error.code == "ResourceNotFound"
    assert "Microsoft.ManagedIdentity/userAssignedIdentities/app-identity" in gone.error.message
    assert created.principal_id not in state0["graph"]["servicePrincipals"]
    assert created.principal_id not in emu.state()["graph"]["servicePrincipals"]


def test_user_assigned_identity_sp_exists_after_create(emu):
    async def scenario():
        async with Clients(emu) as c:
            return await make_identity(c, "sp-check")

    created = run(scenario())
    sp = emu.state()["graph"]["servicePrincipals"][created.principal_id]
    assert sp["appId"] == created.client_id and sp["servicePrincipalType"] == "ManagedIdentity"


@pytest.mark.parametrize("name,body,status,code", [
    ("ab", {"location": "eastus"}, 400, "InvalidResourceName"),
    ("_starts-badly", {"location": "eastus"}, 400, "InvalidResourceName"),
    ("has.dot", {"location": "eastus"}, 400, "InvalidResourceName"),
    ("x" * 129, {"location": "eastus"}, 400, "InvalidResourceName"),
    ("no-location", {}, 400, "LocationRequired"),
    ("moon-base", {"location": "moon"}, 400, "LocationNotAvailableForResourceType"),
])
def test_user_assigned_identity_put_errors(emu, name, body, status, code):
    async def scenario():
        async with Clients(emu) as c:
            with pytest.raises(HttpResponseError) as err:
                await c.msi.user_assigned_identities.create_or_update(RG, name, body)
            return err.value

    err = run(scenario())
    assert (err.status_code, err.error.code) == (status, code)
    assert not any(r.get("type") == "Microsoft.ManagedIdentity/userAssignedIdentities"
                   for r in emu.state()["arm"]["resources"].values())


def test_user_assigned_identity_valid_edge_names_and_other_errors(emu):
    async def scenario():
        async with Clients(emu) as c:
            ok = [await make_identity(c, n) for n in ("a_-", "Z" * 128)]
            with pytest.raises(HttpResponseError) as moved:
                await c.msi.user_assigned_identities.create_or_update(RG, "a_-", {"location": "westus"})
            with pytest.raises(ResourceNotFoundError) as no_group:
                await c.msi.user_assigned_identities.create_or_update("ghostGroup", "abc", {"location": "eastus"})
            return ok, moved.value, no_group.value

    ok, moved, no_group = run(scenario())
    assert [i.name for i in ok] == ["a_-", "Z" * 128]
    assert (moved.status_code, moved.error.code) == (400, "InvalidResourceLocation")
    assert no_group.error.code == "ResourceGroupNotFound"


# --- RBAC -----------------------------------------------------------------------------------------

def test_reader_reads_but_cannot_write(emu):
    sub = emu.env["AZURE_SUBSCRIPTION_ID"]
    reader_oid = emu.state()["seed"]["reader"]["spId"]
    vm_id = f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/myVM"

    async def scenario():
        async with Clients(emu, reader=True) as c:
            vm = await c.compute.virtual_machines.get(RG, "myVM")
            with pytest.raises(HttpResponseError) as patch:
                await c.compute.virtual_machines.begin_update(RG, "myVM", {"identity": {"type": "SystemAssigned"}})
            with pytest.raises(HttpResponseError) as create:
                await make_identity(c, "reader-made")
            with pytest.raises(HttpResponseError) as put:
                g = await c.aci.container_groups.get(RG, "myContainerGroup")
                await c.aci.container_groups.begin_create_or_update(RG, "myContainerGroup", g)
            return vm, patch.value, create.value, put.value

    emu.clear_requests()
    vm, patch, create, put = run(scenario())
    assert vm.name == "myVM"
    assert error_of(patch) == (
        403, "AuthorizationFailed",
        f"The client '{reader_oid}' with object id '{reader_oid}' does not have authorization to "
        f"perform action 'Microsoft.Compute/virtualMachines/write' over scope '{vm_id}' or the scope "
        "is invalid. If access was recently granted, please refresh your credentials.")
    assert (create.status_code, create.error.code) == (403, "AuthorizationFailed")
    assert "Microsoft.ManagedIdentity/userAssignedIdentities/write" in create.error.message
    assert (put.status_code, put.error.code) == (403, "AuthorizationFailed")
    assert [w for w in emu.writes() if w["status"] < 400] == []


def test_least_privilege_roles(emu):
    """VM Contributor writes VMs; attaching a user-assigned identity also needs Managed Identity
    Operator on it (LinkedAuthorizationFailed before); Managed Identity Contributor creates identities."""
    sub = emu.env["AZURE_SUBSCRIPTION_ID"]
    rg_scope = f"/subscriptions/{sub}/resourceGroups/{RG}"
    ident = identity_id(sub, "linked-id")

    async def operator_setup():
        async with Clients(emu) as c:
            await make_identity(c, "linked-id")

    async def as_reader():
        async with Clients(emu, reader=True) as c:
            vms = c.compute.virtual_machines
            system = await (await vms.begin_update(RG, "myVM", {"identity": {"type": "SystemAssigned"}})).result()
            with pytest.raises(HttpResponseError) as linked:
                await vms.begin_update(RG, "myVM", {"identity": {
                    "type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {ident: {}}}})
            with pytest.raises(HttpResponseError) as no_msi:
                await make_identity(c, "vmc-made")
            return system, linked.value, no_msi.value

    async def as_reader_with_operator():
        async with Clients(emu, reader=True) as c:
            return await (await c.compute.virtual_machines.begin_update(RG, "myVM", {"identity": {
                "type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {ident: {}}}})).result()

    async def as_identity_contributor():
        async with Clients(emu, reader=True) as c:
            made = await make_identity(c, "mic-made")
            with pytest.raises(HttpResponseError) as vm_write:
                await c.compute.virtual_machines.begin_update(RG, "myVM", {"identity": {"type": "None"}})
            return made, vm_write.value

    run(operator_setup())
    oid = set_roles(emu, "reader", [("Virtual Machine Contributor", rg_scope)])
    system, linked, no_msi = run(as_reader())
    assert system.identity.type == "SystemAssigned"
    assert linked.status_code == 403 and linked.error.code == "LinkedAuthorizationFailed"
    assert linked.error.message == (
        f"The client '{oid}' with object id '{oid}' has permission to perform action "
        f"'Microsoft.Compute/virtualMachines/write' on scope '{rg_scope}/providers/Microsoft.Compute/"
        "virtualMachines/myVM'; however, it does not have permission to perform action(s) "
        "'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) "
        f"'{ident}' or the linked scope(s) are invalid.")
    assert no_msi.error.code == "AuthorizationFailed"

    set_roles(emu, "reader", [("Virtual Machine Contributor", rg_scope), ("Managed Identity Operator", ident)])
    both = run(as_reader_with_operator())
    assert set(both.identity.user_assigned_identities) == {ident}

    set_roles(emu, "reader", [("Managed Identity Contributor", rg_scope)])
    made, vm_write = run(as_identity_contributor())
    assert made.name == "mic-made"
    assert vm_write.error.code == "AuthorizationFailed"
