"""``identity create | enable | disable | show`` end to end against the emulator (issue 4).

Every scenario runs its command twice: the second run must report ``unchanged`` and send no
write (``emu.writes()``). Bad input must exit with its code, say what is wrong, and write nothing.
"""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from entra_bootstrap.cli import app

RG = "myResourceGroup"


def cli(*args: str, input: str | None = None):
    return CliRunner().invoke(app, list(args), input=input)


def ok(*args: str, input: str | None = None):
    result = cli(*args, input=input)
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def twice(emu, *args: str):
    """Run a command, then again: the second run changes nothing and writes nothing."""
    first = ok(*args)
    emu.clear_requests()
    second = ok(*args)
    assert emu.writes() == [], emu.writes()
    assert "unchanged" in second.stdout
    assert not any(w in second.stdout for w in ("created", "updated", "deleted"))
    return first, second


def fails(emu, code: int, *args: str, input: str | None = None):
    """A refused command: its exit code, a one-line error on stderr, no traceback, no write."""
    emu.clear_requests()
    result = cli(*args, input=input)
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    assert "error[" in result.stderr and "Traceback" not in result.stderr + result.stdout
    assert [w for w in emu.writes() if w["status"] and w["status"] < 400] == []
    return result


def sub(emu) -> str:
    return emu.env["AZURE_SUBSCRIPTION_ID"]


def uami_id(emu, name: str) -> str:
    return (f"/subscriptions/{sub(emu)}/resourceGroups/{RG}/providers/Microsoft.ManagedIdentity/"
            f"userAssignedIdentities/{name}")


def resource(emu, kind: str, name: str) -> dict:
    provider = {"vm": "Microsoft.Compute/virtualMachines", "vmss": "Microsoft.Compute/virtualMachineScaleSets",
                "container-group": "Microsoft.ContainerInstance/containerGroups"}[kind]
    rid = f"/subscriptions/{sub(emu)}/resourceGroups/{RG}/providers/{provider}/{name}"
    return emu.state()["arm"]["resources"][rid.lower()]


def attached(emu, kind: str, name: str) -> tuple[str | None, set[str]]:
    """(system principal id, {user-assigned identity names}) of a resource, from the emulator."""
    identity = resource(emu, kind, name).get("identity") or {}
    users = {k.rsplit("/", 1)[-1] for k in (identity.get("userAssignedIdentities") or {})}
    return identity.get("principalId"), users


def create_identity(emu, name: str) -> dict:
    doc = json.loads(ok("identity", "create", name, "-g", RG, "-o", "json").stdout)
    return doc["result"]


TARGETS = [("vm", "myVM"), ("vmss", "myScaleSet")]


# --- identity create ----------------------------------------------------------------------------

def test_create_twice_prints_ids_and_tsv_principal(emu):
    first, second = twice(emu, "identity", "create", "app-id", "-g", RG)
    state = emu.state()["arm"]["resources"][uami_id(emu, "app-id").lower()]
    props = state["properties"]
    for value in (props["principalId"], props["clientId"], props["tenantId"], state["id"]):
        assert value in first.stdout and value in second.stdout
    assert "created" in first.stdout and state["location"] == "eastus"     # the group's location
    tsv = ok("identity", "create", "app-id", "-g", RG, "-o", "tsv").stdout.strip()
    assert tsv == props["principalId"]


def test_create_with_tags_and_location(emu):
    twice(emu, "identity", "create", "tagged-id", "-g", RG, "-l", "westus", "--tags", "team=pay",
          "--tags", "env=prod")
    state = emu.state()["arm"]["resources"][uami_id(emu, "tagged-id").lower()]
    assert state["tags"] == {"team": "pay", "env": "prod"} and state["location"] == "westus"
    changed = ok("identity", "create", "tagged-id", "-g", RG, "--tags", "team=ops", "-o", "json")
    doc = json.loads(changed.stdout)
    assert doc["changes"][0]["action"] == "update"
    assert doc["result"]["principalId"] == state["properties"]["principalId"]   # stable across updates
    # Without --tags the tags are not managed: no write.
    emu.clear_requests()
    ok("identity", "create", "tagged-id", "-g", RG)
    assert emu.writes() == []
    moved = fails(emu, 1, "identity", "create", "tagged-id", "-g", RG, "-l", "eastus")
    assert "InvalidResourceLocation" in moved.stderr


@pytest.mark.parametrize("name", ["ab", "_starts-with-underscore", "has.dot", "x" * 129, "sp ace"])
def test_create_refuses_names_breaking_arm_rules_before_sending(emu, name):
    result = fails(emu, 2, "identity", "create", name, "-g", RG)
    assert "InvalidResourceName" in result.stderr and "3-128" in result.stderr
    assert emu.requests() == []                 # checked before any request, token included


def test_create_in_missing_resource_group_is_not_found(emu):
    result = fails(emu, 4, "identity", "create", "new-id", "-g", "noSuchGroup")
    assert "ResourceGroupNotFound" in result.stderr


# --- enable / disable on VMs and scale sets --------------------------------------------------------

@pytest.mark.parametrize("kind,name", TARGETS)
def test_system_assigned_on_resource_with_user_assigned_keeps_both(emu, kind, name):
    create_identity(emu, "id-one")
    ok("identity", "enable", f"--{kind}", name, "-g", RG, "--user-assigned", "id-one")
    first, _ = twice(emu, "identity", "enable", f"--{kind}", name, "-g", RG, "--system-assigned")
    system, users = attached(emu, kind, name)
    assert system and users == {"id-one"}
    assert system in first.stdout                     # the system-assigned principal id is printed
    tsv = ok("identity", "enable", f"--{kind}", name, "-g", RG, "--system-assigned", "-o", "tsv")
    assert tsv.stdout.strip() == system


@pytest.mark.parametrize("kind,name", TARGETS)
def test_user_assigned_on_resource_with_system_assigned_keeps_both(emu, kind, name):
    create_identity(emu, "id-one")
    ok("identity", "enable", f"--{kind}", name, "-g", RG, "--system-assigned")
    system_before, _ = attached(emu, kind, name)
    twice(emu, "identity", "enable", f"--{kind}", name, "-g", RG, "--user-assigned", "id-one")
    system, users = attached(emu, kind, name)
    assert system == system_before and users == {"id-one"}


@pytest.mark.parametrize("kind,name", TARGETS)
def test_two_user_assigned_added_one_at_a_time_then_one_disabled(emu, kind, name):
    create_identity(emu, "id-one")
    create_identity(emu, "id-two")
    ok("identity", "enable", f"--{kind}", name, "-g", RG, "--system-assigned")
    twice(emu, "identity", "enable", f"--{kind}", name, "-g", RG, "--user-assigned", "id-one")
    twice(emu, "identity", "enable", f"--{kind}", name, "-g", RG, "--user-assigned", uami_id(emu, "id-two"))
    assert attached(emu, kind, name)[1] == {"id-one", "id-two"}
    twice(emu, "identity", "disable", f"--{kind}", name, "-g", RG, "--user-assigned", "id-one")
    system, users = attached(emu, kind, name)
    assert users == {"id-two"} and system
    # The PATCH named only the identity that changed (ARM merges the map).
    emu.clear_requests()
    ok("identity", "disable", f"--{kind}", name, "-g", RG, "--system-assigned")
    assert attached(emu, kind, name) == (None, {"id-two"})


def test_disable_last_user_assigned_and_system_leaves_none(emu):
    create_identity(emu, "id-one")
    ok("identity", "enable", "--vm", "myVM", "-g", RG, "--system-assigned", "--user-assigned", "id-one")
    twice(emu, "identity", "disable", "--vm", "myVM", "-g", RG, "--system-assigned",
          "--user-assigned", "id-one")
    assert "identity" not in resource(emu, "vm", "myVM")


def test_scale_set_manual_upgrade_policy_is_reported_and_upgraded_on_request(emu):
    first = ok("identity", "enable", "--vmss", "myScaleSet", "-g", RG, "--system-assigned")
    assert "--upgrade-instances" in first.stdout and "0, 1" in first.stdout
    doc = json.loads(ok("identity", "enable", "--vmss", "myScaleSet", "-g", RG, "--system-assigned",
                        "--upgrade-instances", "-o", "json").stdout)
    assert [(c["kind"], c["action"]) for c in doc["changes"]] == [
        ("vmssIdentity", "unchanged"), ("scaleSetInstances", "update")]
    twice(emu, "identity", "enable", "--vmss", "myScaleSet", "-g", RG, "--system-assigned",
          "--upgrade-instances")
    instances = emu.state()["arm"]["scale_set_instances"]
    assert all(i["latestModelApplied"] for group in instances.values() for i in group.values())


def test_dry_run_writes_nothing(emu):
    emu.clear_requests()
    result = ok("identity", "enable", "--vm", "myVM", "-g", RG, "--system-assigned", "--dry-run")
    assert "would update" in result.stdout and emu.writes() == []
    assert "identity" not in resource(emu, "vm", "myVM")


# --- container groups ----------------------------------------------------------------------------

def _definition(group: dict) -> dict:
    props = group["properties"]
    containers = [{k: v for k, v in c["properties"].items() if k != "instanceView"} | {"name": c["name"]}
                  for c in props["containers"]]
    return {"containers": containers, "restartPolicy": props["restartPolicy"], "osType": props["osType"],
            "ipAddress": props["ipAddress"], "sku": props.get("sku"), "location": group["location"],
            "tags": group.get("tags")}


def test_container_group_put_keeps_the_definition(emu):
    create_identity(emu, "id-one")
    before = resource(emu, "container-group", "myContainerGroup")
    started = time.monotonic()
    first, second = twice(emu, "identity", "enable", "--container-group", "myContainerGroup", "-g", RG,
                          "--system-assigned", "--user-assigned", "id-one", "--yes")
    after = resource(emu, "container-group", "myContainerGroup")
    assert _definition(after) == _definition(before)
    assert after["identity"]["type"] == "SystemAssigned, UserAssigned"
    assert after["identity"]["principalId"] in first.stdout
    assert after["properties"]["containers"][0]["properties"]["instanceView"]["restartCount"] == 1
    assert "every container restarts" in first.stdout
    assert "container web: image mcr.microsoft.com/azuredocs/aci-helloworld:latest" in first.stderr
    # The LRO was polled at the server's pace (Retry-After: 0), never the SDK's 30 s default.
    assert time.monotonic() - started < 10


def test_container_group_lro_is_followed_through_the_operation_status(emu):
    create_identity(emu, "id-one")
    emu.clear_requests()
    ok("identity", "enable", "--container-group", "myContainerGroup", "-g", RG, "--user-assigned",
       "id-one", "--yes")
    arm = [(r["method"], r["path"].split("?")[0].rsplit("/", 2)[-2]) for r in emu.requests()
           if r["path"].startswith("/arm/")]
    polls = [p for p in arm if p == ("GET", "operations")]
    assert ("PUT", "containerGroups") in arm and len(polls) == 2     # InProgress, then Succeeded


def test_container_group_refuses_without_yes_when_stdin_is_not_a_terminal(emu):
    result = fails(emu, 2, "identity", "enable", "--container-group", "myContainerGroup", "-g", RG,
                   "--system-assigned")
    assert "ConfirmationRequired" in result.stderr and "--yes" in result.stderr
    assert "identity" not in resource(emu, "container-group", "myContainerGroup")


def test_container_group_disable_and_unchanged_needs_no_confirmation(emu):
    ok("identity", "enable", "--container-group", "myContainerGroup", "-g", RG, "--system-assigned", "-y")
    twice(emu, "identity", "disable", "--container-group", "myContainerGroup", "-g", RG,
          "--system-assigned", "--yes")
    assert "identity" not in resource(emu, "container-group", "myContainerGroup")
    # Nothing to change: no PUT, so no question either.
    ok("identity", "disable", "--container-group", "myContainerGroup", "-g", RG, "--system-assigned")


def test_terminated_container_group_is_refused(emu):
    from test_emulator_arm import Clients, run

    async def stop():
        async with Clients(emu) as c:
            await c.aci.container_groups.stop(RG, "myContainerGroup")

    run(stop())
    result = fails(emu, 1, "identity", "enable", "--container-group", "myContainerGroup", "-g", RG,
                   "--system-assigned", "--yes")
    assert "ContainerGroupNotRunning" in result.stderr and "stopped" in result.stderr


def test_failed_container_group_operation_reports_arms_code(emu):
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.containerinstance.models import (Container, ContainerGroup, ResourceRequests,
                                                     ResourceRequirements)

    from test_emulator_arm import Clients, run

    async def broken():
        async with Clients(emu) as c:
            group = ContainerGroup(location="eastus", os_type="Linux", containers=[Container(
                name="app", image="registry.invalid/app:1",
                resources=ResourceRequirements(requests=ResourceRequests(memory_in_gb=1.0, cpu=1.0)))])
            with pytest.raises(HttpResponseError):
                await (await c.aci.container_groups.begin_create_or_update(RG, "broken-group", group)).result()

    run(broken())
    result = cli("identity", "enable", "--container-group", "broken-group", "-g", RG, "--system-assigned",
                 "--yes")
    assert result.exit_code == 1 and "error[InaccessibleImage]" in result.stderr
    assert "registry.invalid/app:1" in result.stderr


def test_container_group_with_secure_values_is_refused(emu):
    from azure.mgmt.containerinstance.models import (Container, ContainerGroup, EnvironmentVariable,
                                                     ResourceRequests, ResourceRequirements)

    from test_emulator_arm import Clients, run

    async def secure():
        async with Clients(emu) as c:
            group = ContainerGroup(location="eastus", os_type="Linux", containers=[Container(
                name="app", image="nginx", environment_variables=[EnvironmentVariable(name="TOKEN",
                                                                                      secure_value="x")],
                resources=ResourceRequirements(requests=ResourceRequests(memory_in_gb=1.0, cpu=1.0)))])
            await (await c.aci.container_groups.begin_create_or_update(RG, "secure-group", group)).result()

    run(secure())
    result = fails(emu, 1, "identity", "enable", "--container-group", "secure-group", "-g", RG,
                   "--system-assigned", "--yes")
    assert "UnreturnedSecrets" in result.stderr and "TOKEN" in result.stderr


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,code,error", [
    (["--vm", "noSuchVM", "-g", RG], 4, "ResourceNotFound"),
    (["--vmss", "noSuchSet", "-g", RG], 4, "ResourceNotFound"),
    (["--container-group", "no-such-group", "-g", RG], 4, "ResourceNotFound"),
    (["--vm", "myVM", "-g", "noSuchGroup"], 4, "ResourceGroupNotFound"),
    (["--vm", "myVM", "-g", RG, "--user-assigned",
      "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/"
      "Microsoft.ManagedIdentity/userAssignedIdentities/elsewhere"], 4, "SubscriptionNotFound"),
    (["--vm", "myVM", "-g", RG, "--user-assigned", "ghost-identity"], 4, "ResourceNotFound"),
    (["--vm", "myVM", "-g", RG, "--user-assigned", "/subscriptions/x/resourceGroups"], 2, "MalformedResourceId"),
    (["--vm", "myVM", "-g", RG, "--user-assigned",
      "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
      "userAssignedIdentities/abc"], 2, "MalformedResourceId"),
    (["--vm", "myVM", "-g", RG, "--user-assigned", "a!"], 2, "InvalidResourceName"),
    (["--vm", "myVM", "--vmss", "myScaleSet", "-g", RG], 2, "BadTarget"),
])
def test_enable_bad_input(emu, args, code, error):
    extra = [] if "--user-assigned" in args else ["--system-assigned"]
    result = fails(emu, code, "identity", "enable", *args, *extra)
    assert f"error[{error}]" in result.stderr
    assert "fix:" in result.stderr


def test_enable_needs_something_to_enable(emu):
    result = fails(emu, 2, "identity", "enable", "--vm", "myVM", "-g", RG)
    assert "NothingToDo" in result.stderr


def _as_reader(monkeypatch, emu):
    monkeypatch.setenv("AZURE_CLIENT_ID", emu.env["EMULATOR_READER_CLIENT_ID"])
    monkeypatch.setenv("AZURE_CLIENT_SECRET", emu.env["EMULATOR_READER_CLIENT_SECRET"])


def test_read_only_operator_gets_exit_3_naming_the_role(emu, monkeypatch):
    create_identity(emu, "id-one")
    _as_reader(monkeypatch, emu)
    vm = fails(emu, 3, "identity", "enable", "--vm", "myVM", "-g", RG, "--system-assigned")
    assert "AuthorizationFailed" in vm.stderr and "Virtual Machine Contributor" in vm.stderr
    attach = fails(emu, 3, "identity", "enable", "--vmss", "myScaleSet", "-g", RG, "--user-assigned", "id-one")
    assert "Virtual Machine Contributor" in attach.stderr and "Managed Identity Operator" in attach.stderr
    create = fails(emu, 3, "identity", "create", "reader-id", "-g", RG)
    assert "Managed Identity Contributor" in create.stderr
    group = fails(emu, 3, "identity", "enable", "--container-group", "myContainerGroup", "-g", RG,
                  "--system-assigned", "--yes")
    assert "AuthorizationFailed" in group.stderr
    # Reading is allowed.
    ok("identity", "show", "--vm", "myVM", "-g", RG)


def test_missing_managed_identity_operator_is_named(emu, monkeypatch):
    """VM Contributor alone may enable system-assigned but not attach a user-assigned identity."""
    create_identity(emu, "id-one")
    state = emu.state()
    reader = state["seed"]["reader"]["spId"]
    state["arm"]["role_assignments"].append({"principalId": reader, "roleDefinitionName":
                                             "Virtual Machine Contributor",
                                             "scope": f"/subscriptions/{sub(emu)}/resourceGroups/{RG}"})
    emu.control("PUT", "/_emulator/state", state)
    _as_reader(monkeypatch, emu)
    ok("identity", "enable", "--vm", "myVM", "-g", RG, "--system-assigned")
    linked = fails(emu, 3, "identity", "enable", "--vm", "myVM", "-g", RG, "--user-assigned", "id-one")
    assert "LinkedAuthorizationFailed" in linked.stderr
    assert "'Managed Identity Operator' role" in linked.stderr


# --- show -------------------------------------------------------------------------------------------

def test_show_identity_and_attachments(emu):
    created = create_identity(emu, "id-one")
    ok("identity", "enable", "--vm", "myVM", "-g", RG, "--system-assigned", "--user-assigned", "id-one")
    shown = json.loads(ok("identity", "show", "id-one", "-g", RG, "-o", "json").stdout)
    assert shown["principalId"] == created["principalId"] and shown["clientId"] == created["clientId"]
    by_id = ok("identity", "show", uami_id(emu, "id-one"), "-o", "tsv").stdout.strip()
    assert by_id == created["principalId"]
    table = ok("identity", "show", "--vm", "myVM", "-g", RG).stdout
    system, _ = attached(emu, "vm", "myVM")
    assert system in table and created["clientId"] in table and "id-one" in table
    doc = json.loads(ok("identity", "show", "--vm", "myVM", "-g", RG, "-o", "json").stdout)
    assert doc["systemAssigned"]["principalId"] == system
    assert [u["principalId"] for u in doc["userAssigned"]] == [created["principalId"]]
    empty = ok("identity", "show", "--container-group", "myContainerGroup", "-g", RG).stdout
    assert "no managed identity" in empty
    missing = fails(emu, 4, "identity", "show", "nope-id", "-g", RG)
    assert "ResourceNotFound" in missing.stderr


# --- the steps as bootstrap files use them ------------------------------------------------------------

def test_plan_sees_a_planned_identity_and_attach_step_round_trip(emu):
    """``plan`` of create + attach in one run: the attach sees the identity as PLANNED (no 404), and
    nothing is written; then up (apply) and down (detach, delete), each idempotent."""
    from entra_bootstrap.cli.common import Options, execute
    from entra_bootstrap.engine import run_step
    from entra_bootstrap.spec import Target
    from entra_bootstrap.steps.user_identity import UserIdentityStep
    from entra_bootstrap.steps.vm_identity import attach_step

    target = Target(kind="vm", name="myVM", resource_group=RG)

    def run_chain(plan: bool, present: bool = True):
        steps = [UserIdentityStep("fed-id", RG, present=present),
                 attach_step(target, "fed-id", RG, present=present)]
        if not present:
            steps.reverse()

        async def go(session):
            out = []
            for step in steps:
                out += await run_step(step, session, plan=plan)
            return [(c.kind, c.action) for c in out]

        return execute(go, Options(cloud="custom"))

    emu.clear_requests()
    assert run_chain(plan=True) == [("userAssignedIdentity", "create"), ("vmIdentity", "update")]
    assert emu.writes() == []
    assert run_chain(plan=False) == [("userAssignedIdentity", "create"), ("vmIdentity", "update")]
    assert attached(emu, "vm", "myVM") == (None, {"fed-id"})
    emu.clear_requests()
    assert run_chain(plan=False) == [("userAssignedIdentity", "unchanged"), ("vmIdentity", "unchanged")]
    assert emu.writes() == []
    assert run_chain(plan=False, present=False) == [("vmIdentity", "update"), ("userAssignedIdentity", "delete")]
    assert "identity" not in resource(emu, "vm", "myVM")
    assert uami_id(emu, "fed-id").lower() not in emu.state()["arm"]["resources"]
    emu.clear_requests()
    assert run_chain(plan=False, present=False) == [("vmIdentity", "unchanged"),
                                                    ("userAssignedIdentity", "unchanged")]
    assert emu.writes() == []


# --- faults: lost responses and throttling ------------------------------------------------------------

def test_lost_response_after_the_patch_is_retried_safely(emu):
    """The PATCH is applied but its response never arrives: the command repeats it (a merge PATCH
    is idempotent) and reports the identity as the server holds it."""
    create_identity(emu, "id-one")
    emu.faults(drop_response_after_write=1)
    first = ok("identity", "enable", "--vm", "myVM", "-g", RG, "--system-assigned", "--user-assigned", "id-one")
    system, users = attached(emu, "vm", "myVM")
    assert system and users == {"id-one"} and system in first.stdout
    patches = [r for r in emu.requests() if r["method"] == "PATCH"]
    assert [p["status"] for p in patches] == [None, 200]
    twice(emu, "identity", "enable", "--vm", "myVM", "-g", RG, "--system-assigned", "--user-assigned", "id-one")


def test_throttled_arm_requests_are_retried(emu, monkeypatch):
    monkeypatch.setenv("ENTRA_BOOTSTRAP_RETRY_BASE_DELAY", "0")
    emu.faults(fault_rate=0.15, fault_seed=2)
    try:
        ok("identity", "create", "busy-id", "-g", RG)
        ok("identity", "enable", "--vm", "myVM", "-g", RG, "--user-assigned", "busy-id")
    finally:
        emu.faults(fault_rate=0)
    assert attached(emu, "vm", "myVM")[1] == {"busy-id"}
    assert any(r["status"] in (429, 503) for r in emu.requests())
