"""plan / up / down / verify from a bootstrap file, end to end against the emulator (issue 5)."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest

from cli_support import cli, cli_json, env  # noqa: F401 - fixture
from entra_bootstrap.cli.bootstrap import EXIT_CHANGES_PENDING

EXAMPLE = resources.files("entra_bootstrap").joinpath("data/example.toml").read_text()
VM_ID_SUFFIX = "/providers/microsoft.compute/virtualmachines/myvm"


@pytest.fixture
def example(tmp_path):
    path = tmp_path / "bootstrap.toml"
    path.write_text(EXAMPLE)
    return path


def summary(emu) -> dict:
    """What exists, by natural keys (no ids), to compare two worlds; with duplicate counts."""
    state = emu.state()
    g, a = state["graph"], state["arm"]
    apps = {x["id"]: x for x in g["applications"].values()}
    sps = {x["id"]: x for x in g["servicePrincipals"].values()}
    names = {**{k: v.get("uniqueName") or v["displayName"] for k, v in apps.items()},
             **{k: "sp:" + v["displayName"] for k, v in sps.items()}}
    identities = {k: v for k, v in a["resources"].items() if "/userassignedidentities/" in k}
    vm = next(v for k, v in a["resources"].items() if k.endswith(VM_ID_SUFFIX))
    return {
        "apps": sorted(names[k] for k in apps),
        "sps": sorted(v["displayName"] for v in sps.values() if v.get("servicePrincipalType") != "ManagedIdentity"),
        "fics": sorted((names[app], f["name"], f["issuer"] == emu.env["AZURE_AUTHORITY_HOST"] + "/"
                        + emu.env["AZURE_TENANT_ID"] + "/v2.0", f["audiences"][0])
                       for app, fics in g["federatedIdentityCredentials"].items() for f in fics),
        "assignments": sorted((names.get(x["principalId"], "?"), names.get(x["resourceId"], "?"), x["appRoleId"])
                              for x in g["appRoleAssignments"].values()),
        "grants": sorted((names.get(x["clientId"]), x["scope"]) for x in g["oauth2PermissionGrants"].values()),
        "owners": sorted((names.get(k, k), len(v)) for k, v in g["owners"].items() if v),
        "rra": sorted((names[k], json.dumps(v.get("requiredResourceAccess"), sort_keys=True))
                      for k, v in apps.items()),
        "identities": sorted(v["name"] for v in identities.values()),
        "vm_identity": sorted(k.rsplit("/", 1)[-1].lower()
                              for k in ((vm.get("identity") or {}).get("userAssignedIdentities") or {})),
    }


def symbols(doc: dict) -> list[str]:
    return [c["symbol"] for c in doc["plan"]]


def test_example_plans_applies_verifies_and_tears_down(env, example):
    emu = env
    plan = cli_json("plan", "-f", example)
    assert symbols(plan) == ["+", "~", "+", "+", "+", "+", "+", "+"]
    assert [c["kind"] for c in plan["plan"]] == [
        "userAssignedIdentity", "vmIdentity", "application", "servicePrincipal", "permission",
        "appRoleAssignment", "owner", "federatedIdentityCredential"]
    assert plan["pending"] is True
    assert emu.writes() == []                                   # plan is read-only
    cli("plan", "-f", example, "--detailed-exitcode", code=EXIT_CHANGES_PENDING)

    up = cli_json("up", "-f", example)
    assert {c["outcome"] for c in up["changes"]} == {"created", "updated"}
    result = up["result"]
    assert result["tenantId"] == emu.env["AZURE_TENANT_ID"]
    app_id = result["apps"]["microsoft365-provider"]["appId"]
    ident = result["identities"]["terraform-managed-identity"]
    world = summary(emu)
    assert world["apps"].count("microsoft365-provider") == 1
    assert ("microsoft365-provider", "terraform-managed-identity", True, "api://AzureADTokenExchange") in world["fics"]
    assert world["vm_identity"] == ["terraform-managed-identity"]
    state = emu.state()["graph"]
    (fic,) = [f for fics in state["federatedIdentityCredentials"].values() for f in fics]
    assert fic["subject"] == ident["principalId"]               # the identity's principal id, exactly
    assert any(a["appId"] == app_id for a in state["applications"].values())

    emu.clear_requests()
    again = cli_json("up", "-f", example)
    assert {c["outcome"] for c in again["changes"]} == {"unchanged"}
    assert emu.writes() == []
    cli("plan", "-f", example, "--detailed-exitcode")           # exit 0: nothing pending

    checks = cli_json("verify", "-f", example, "--exchange", "--call", "/deviceManagement/deviceConfigurations")
    assert checks["passed"] is True
    (exchange,) = [c for c in checks["checks"] if c["check"] == "token exchange"]
    assert exchange["roles"] == ["DeviceManagementConfiguration.ReadWrite.All"]
    assert "-> 200" in exchange["detail"]
    assert emu.writes() == []

    down = cli_json("down", "-f", example, "--yes")
    assert [c["kind"] for c in down["changes"] if c["outcome"] == "deleted"][:2] == [
        "federatedIdentityCredential", "owner"]
    after = summary(emu)
    assert "microsoft365-provider" not in after["apps"] and after["identities"] == [] and after["vm_identity"] == []
    assert symbols(cli_json("plan", "-f", example)) == ["+", "~", "+", "+", "+", "+", "+", "+"]


def test_verify_fails_with_the_fix_when_the_chain_is_broken(env, example):
    emu = env
    cli("up", "-f", example, "-o", "none")
    # Somebody re-points the credential at another subject: verify must catch it.
    state = emu.state()
    for fics in state["graph"]["federatedIdentityCredentials"].values():
        for f in fics:
            f["subject"] = f["subject"].upper()
    emu.control("PUT", "/_emulator/state", state)
    result = cli("verify", "-f", example, "--exchange", code=1)
    assert "FAIL  federated credential" in result.stdout
    assert f"fix: run `entra-bootstrap up -f {example}`" in result.stdout
    assert "pass  app exists" in result.stdout


def test_verify_exchange_fails_without_consent(env, example):
    example.write_text(EXAMPLE.replace("consent = true", "consent = false"))
    cli("up", "-f", example, "-o", "none")
    doc = cli_json("verify", "-f", example, "--exchange")
    (exchange,) = [c for c in doc["checks"] if c["check"] == "token exchange"]
    assert exchange["passed"] is True and exchange["roles"] == []   # nothing consented, nothing expected
    example.write_text(EXAMPLE)
    doc = cli_json("verify", "-f", example, "--exchange", code=1)
    failed = [c for c in doc["checks"] if not c["passed"]]
    assert [c["kind"] for c in failed][:1] == ["appRoleAssignment"]
    (exchange,) = [c for c in doc["checks"] if c["check"] == "token exchange"]
    assert exchange["passed"] is False and "consent DeviceManagementConfiguration.ReadWrite.All" in exchange["fix"]


def test_invalid_file_is_refused_before_any_request(env, tmp_path):
    emu = env
    path = tmp_path / "bad.toml"
    path.write_text(EXAMPLE.replace('roles = ["DeviceManagementConfiguration.ReadWrite.All"]',
                                    'roles = ["DeviceManagementConfiguration.ReadWrite.Al"]')
                    .replace('location = "eastus"', 'location = "eastus"\nregion = "x"'))
    for command in ("plan", "up", "verify", "down"):
        emu.clear_requests()
        result = cli(command, "-f", path, code=2)
        assert f"{path}:7: identity[0].region: unknown key" in result.stderr
        assert f"{path}:18: app[0].permission[0].roles[0]: 'DeviceManagementConfiguration.ReadWrite.Al'" in result.stderr
        assert "did you mean DeviceManagementConfiguration.ReadWrite.All" in result.stderr
        assert emu.requests() == []
    doc = cli_json("plan", "-f", path, code=2)
    assert doc["error"]["code"] == "InvalidBootstrapFile"
    assert [(p["line"], p["key"]) for p in doc["error"]["problems"]] == [
        (7, "identity[0].region"), (18, "app[0].permission[0].roles[0]")]
    # the fix names a section README.md really has
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = re.search(r"section '([^']+)'", doc["error"]["fix"]).group(1)
    assert re.search(rf"^#+ {re.escape(section)}\b", readme, re.M), section
    missing = cli("plan", "-f", tmp_path / "nope.toml", code=2)
    assert "no such file" in missing.stderr


def test_file_settings_conflicting_with_options_are_refused(env, tmp_path):
    path = tmp_path / "b.toml"
    path.write_text('tenant = "11111111-1111-4111-8111-111111111111"\n' + EXAMPLE)
    result = cli("plan", "-f", path, "--tenant", "22222222-2222-4222-8222-222222222222", code=2)
    assert "the file says tenant" in result.stderr


def test_down_asks_for_confirmation_when_not_on_a_terminal(env, example):
    emu = env
    cli("up", "-f", example, "-o", "none")
    emu.clear_requests()
    result = cli("down", "-f", example, code=2)
    assert "pass --yes" in result.stderr
    assert emu.writes() == []


def test_down_leaves_what_the_file_does_not_declare(env, example):
    emu = env
    cli("up", "-f", example, "-o", "none")
    other = cli_json("identity", "create", "unmanaged-identity", "-g", "myResourceGroup")["result"]
    cli("identity", "enable", "--vm", "myVM", "-g", "myResourceGroup", "--user-assigned", "unmanaged-identity",
        "-o", "none")
    cli("app", "create", "Unmanaged App", "-o", "none")
    cli("down", "-f", example, "--yes", "-o", "none")
    after = summary(emu)
    assert after["vm_identity"] == ["unmanaged-identity"]
    assert after["identities"] == ["unmanaged-identity"]
    assert "unmanaged-app" in after["apps"] and "microsoft365-provider" not in after["apps"]
    assert other["principalId"]
    emu.clear_requests()
    again = cli_json("down", "-f", example, "--yes")
    assert {c["outcome"] for c in again["changes"]} == {"unchanged"} and emu.writes() == []
    names = [c["name"] for c in again["changes"]]
    assert "microsoft365-provider/terraform-managed-identity" in names
    assert "microsoft365-provider <- terraform-managed-identity" in names


def test_audit_log_has_one_line_per_write_and_no_secret(env, example, tmp_path, monkeypatch):
    emu = env
    log = tmp_path / "audit.jsonl"
    emu.clear_requests()
    cli("up", "-f", example, "--audit-log", log, "-o", "none")
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == len(emu.writes()) == 8
    operator_sp = emu.state()["seed"]["operator"]["spId"]
    assert {x["operator"] for x in lines} == {operator_sp}
    assert {x["tenant"] for x in lines} == {emu.env["AZURE_TENANT_ID"]}
    assert {x["outcome"] for x in lines} == {"succeeded"}
    kinds = {x["kind"] for x in lines}
    assert {"applications", "servicePrincipals", "userAssignedIdentities", "virtualMachines",
            "federatedIdentityCredentials", "owners", "appRoleAssignedTo"} <= kinds
    assert emu.env["AZURE_CLIENT_SECRET"] not in log.read_text()
    # The environment variable works too, and a no-op run appends nothing.
    monkeypatch.setenv("ENTRA_BOOTSTRAP_AUDIT_LOG", str(log))
    cli("up", "-f", example, "-o", "none")
    assert len(log.read_text().splitlines()) == 8


def test_a_richer_file_several_apps_identities_scopes_and_federations(env, tmp_path):
    emu = env
    path = tmp_path / "rich.toml"
    path.write_text("""
[[identity]]
name = "ci-identity"
resource_group = "myResourceGroup"
assign_to = ["vmss:myScaleSet"]
tags = { team = "platform" }

[[identity]]
name = "web-identity"
resource_group = "myResourceGroup"
assign_to = ["vm:myVM"]

[[app]]
unique_name = "reports-api"
display_name = "Reports API"
consent = true
owners = ["identity:ci-identity"]

  [[app.permission]]
  roles = ["User.Read.All"]
  scopes = ["User.Read", "offline_access"]

  [[app.federation]]
  name = "github-main"
  github = "contoso/reports"
  branch = "main"

  [[app.federation]]
  name = "aks-reports"
  kubernetes_issuer = "https://oidc.prod-aks.azure.com/tenant/issuer/"
  namespace = "reports"
  service_account = "api"

  [[app.federation]]
  name = "ci-identity"
  managed_identity = "ci-identity"

[[app]]
unique_name = "web-frontend"
owners = ["identity:web-identity"]

  [[app.federation]]
  name = "web-identity"
  managed_identity = "web-identity"
""")
    up = cli_json("up", "-f", path)
    assert "created" in {c["outcome"] for c in up["changes"]}
    world = summary(emu)
    assert world["identities"] == ["ci-identity", "web-identity"]
    assert world["vm_identity"] == ["web-identity"]
    assert [f[:2] for f in world["fics"]] == [("reports-api", "aks-reports"), ("reports-api", "ci-identity"),
                                             ("reports-api", "github-main"), ("web-frontend", "web-identity")]
    assert world["grants"] == [("sp:Reports API", "User.Read offline_access")]
    fics = {f["name"]: f for fl in emu.state()["graph"]["federatedIdentityCredentials"].values() for f in fl}
    assert fics["github-main"]["issuer"] == "https://token.actions.githubusercontent.com"
    assert fics["github-main"]["subject"] == "repo:contoso/reports:ref:refs/heads/main"
    assert fics["aks-reports"]["subject"] == "system:serviceaccount:reports:api"
    emu.clear_requests()
    again = cli_json("up", "-f", path)
    assert {c["outcome"] for c in again["changes"]} == {"unchanged"} and emu.writes() == []
    cli("verify", "-f", path)


def _clean_run(emu, example) -> tuple[dict, int]:
    emu.reset()
    emu.clear_requests()
    cli("up", "-f", example, "-o", "none")
    return summary(emu), len(emu.writes())


def test_up_cut_off_after_any_write_is_finished_by_the_next_up(env, example):
    """For every write position k: the k-th write is applied but its answer lost; then up again."""
    emu = env
    clean, writes = _clean_run(emu, example)
    assert writes == 8
    for k in range(1, writes + 1):
        emu.reset()
        emu.faults(drop_response_after_write=k)
        _run_any(example)
        cli("up", "-f", example, "-o", "none")
        assert summary(emu) == clean, f"write {k}"
        emu.clear_requests()
        cli("up", "-f", example, "-o", "none")
        assert emu.writes() == [], f"write {k}: a third up still wrote"


def _run_any(example) -> None:
    """An `up` whose k-th write goes unanswered: it may fail (exit 1) or recover; never a traceback."""
    from cli_support import RUNNER
    from entra_bootstrap.cli import app

    result = RUNNER.invoke(app, ["up", "-f", str(example), "-o", "none"])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output


def test_a_container_group_target_needs_yes_because_containers_restart(env, tmp_path):
    emu = env
    path = tmp_path / "aci.toml"
    path.write_text('[[identity]]\nname = "aci-identity"\nresource_group = "myResourceGroup"\n'
                    'assign_to = ["container-group:myContainerGroup"]\n')
    before = next(v for k, v in emu.state()["arm"]["resources"].items() if k.endswith("/mycontainergroup"))
    result = cli("up", "-f", path, code=2)
    assert "restarts every container" in result.stderr and "--yes" in result.stderr
    assert not [w for w in emu.writes() if "containerGroups" in w["path"]]
    cli("up", "-f", path, "--yes", "-o", "none")
    after = next(v for k, v in emu.state()["arm"]["resources"].items() if k.endswith("/mycontainergroup"))
    assert list(after["identity"]["userAssignedIdentities"])[0].lower().endswith("/aci-identity")
    for key in ("image", "ports", "environmentVariables", "resources"):
        assert after["properties"]["containers"][0]["properties"][key] == \
            before["properties"]["containers"][0]["properties"][key]
    assert after["properties"]["restartPolicy"] == before["properties"]["restartPolicy"]
    emu.clear_requests()
    cli("up", "-f", path, "-o", "none")                      # nothing to re-send: no question asked
    assert emu.writes() == []


def test_references_outside_the_file_must_exist_before_any_write(env, tmp_path):
    emu = env
    ghost = ("/subscriptions/" + emu.env["AZURE_SUBSCRIPTION_ID"] + "/resourceGroups/myResourceGroup/providers/"
             "Microsoft.ManagedIdentity/userAssignedIdentities/ghost-identity")
    path = tmp_path / "refs.toml"
    path.write_text(f'[[app]]\nunique_name = "refs-app"\n[[app.federation]]\nname = "ghost"\n'
                    f'managed_identity = "{ghost}"\n')
    result = cli("up", "-f", path, code=4)
    assert "ghost-identity" in result.stderr
    assert emu.writes() == []
    path.write_text('[[app]]\nunique_name = "refs-app"\nowners = ["principal:0b5a0f4e-1111-4222-8333-944455556666"]\n')
    result = cli("up", "-f", path, code=4)
    assert "0b5a0f4e-1111-4222-8333-944455556666" in result.stderr
    assert emu.writes() == []
    unknown_api = "0b5a0f4e-1111-4222-8333-944455556667"
    path.write_text(f'[[app]]\nunique_name = "refs-app"\n[[app.permission]]\napi = "{unknown_api}"\nroles = ["X.Read"]\n')
    result = cli("up", "-f", path, code=4)
    assert unknown_api in result.stderr
    assert emu.writes() == []


def test_a_failed_up_prints_one_json_document_with_what_was_done(env, tmp_path):
    emu = env
    path = tmp_path / "app.toml"          # Graph only: the order of writes is fixed
    path.write_text('[[app]]\nunique_name = "json-app"\n[[app.permission]]\nroles = ["User.Read.All"]\n')
    emu.faults(drop_response_after_write=2)                 # the service principal's upsert
    doc = cli_json("up", "-f", path, code=1)                # json.loads: exactly one document
    assert doc["error"]["code"] == "EndpointUnreachable"
    assert "disconnected" in doc["error"]["message"].lower()
    assert [(c["kind"], c["outcome"]) for c in doc["changes"]] == [("application", "created")]
    assert doc["result"]["apps"]["json-app"]["appId"]


@pytest.mark.parametrize("kill_after", [0.9, 1.4])
def test_up_killed_mid_run_is_finished_by_the_next_up(env, example, kill_after):
    """SIGKILL a real `up` process while its requests are slowed down; the next `up` completes it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    emu = env
    clean, _ = _clean_run(emu, example)
    emu.reset()
    emu.faults(latency_ms=60)
    proc = subprocess.Popen([sys.executable, "-m", "entra_bootstrap", "up", "-f", str(example), "-o", "none"],
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    emu.faults(latency_ms=0)
    partial = summary(emu)
    cli("up", "-f", example, "-o", "none")
    assert summary(emu) == clean, f"was: {partial}"


def test_a_target_in_another_subscription_is_refused_before_any_write(env, tmp_path):
    emu = env
    other = "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
    path = tmp_path / "other.toml"
    path.write_text(f'[[identity]]\nname = "mi-one"\nresource_group = "myResourceGroup"\nassign_to = ["{other}"]\n')
    result = cli("up", "-f", path, code=2)
    assert "is in subscription 11111111-1111-4111-8111-111111111111" in result.stderr
    assert emu.writes() == []


def test_up_and_verify_through_replication_lag_and_throttling(env, example):
    """Entra's eventual consistency and throttling, as the emulator plays them: up still converges,
    and verify --exchange waits out AADSTS70021 (a new credential not yet propagated)."""
    emu = env
    emu.faults(replication_lag=3, fault_rate=0.15, fault_seed=7)
    up = cli_json("up", "-f", example)
    assert {c["outcome"] for c in up["changes"]} == {"created", "updated"}
    emu.faults(fault_rate=0)
    emu.clear_requests()
    checks = cli_json("verify", "-f", example, "--exchange")
    refused = [r for r in emu.requests() if r["path"].endswith("/oauth2/v2.0/token") and r["status"] >= 400]
    assert refused, "the new credential was expected to lag at least once"
    (exchange,) = [c for c in checks["checks"] if c["check"] == "token exchange"]
    assert exchange["passed"] and exchange["roles"] == ["DeviceManagementConfiguration.ReadWrite.All"]
    emu.faults(replication_lag=0)
    emu.clear_requests()
    again = cli_json("up", "-f", example)
    assert {c["outcome"] for c in again["changes"]} == {"unchanged"} and emu.writes() == []


def test_two_identities_attached_to_the_same_targets(env, tmp_path):
    """Two identities of one file on the same VM and container group: their attachments must not
    race (a VM PATCH re-read seeing the other identity; a container group PUT erasing it)."""
    emu = env
    path = tmp_path / "shared.toml"
    path.write_text("".join(f'[[identity]]\nname = "{n}"\nresource_group = "myResourceGroup"\n'
                            'assign_to = ["vm:myVM", "container-group:myContainerGroup"]\n\n'
                            for n in ("mi-one", "mi-two")))
    cli("up", "-f", path, "--yes", "-o", "none")
    resources = emu.state()["arm"]["resources"]
    for suffix in (VM_ID_SUFFIX, "/mycontainergroup"):
        target = next(v for k, v in resources.items() if k.endswith(suffix))
        attached = sorted(k.rsplit("/", 1)[-1].lower() for k in target["identity"]["userAssignedIdentities"])
        assert attached == ["mi-one", "mi-two"], (suffix, attached)
    emu.clear_requests()
    again = cli_json("up", "-f", path, "--yes")
    assert {c["outcome"] for c in again["changes"]} == {"unchanged"}
    assert emu.writes() == []
    cli("down", "-f", path, "--yes", "-o", "none")
    resources = emu.state()["arm"]["resources"]
    for suffix in (VM_ID_SUFFIX, "/mycontainergroup"):
        target = next(v for k, v in resources.items() if k.endswith(suffix))
        assert not (target.get("identity") or {}).get("userAssignedIdentities"), suffix


def test_gitlab_federations_in_a_file_plan_up_verify_and_run_twice(env, tmp_path):
    emu = env
    path = tmp_path / "gitlab.toml"
    path.write_text("""
[[app]]
unique_name = "gitlab-deployer"

  [[app.federation]]
  name = "gitlab-main"
  gitlab = "platform/infra/deploy"
  branch = "main"

  [[app.federation]]
  name = "gitlab-release-tags"
  gitlab = "platform/infra/deploy"
  tag = "v1.0.0"
  gitlab_url = "https://gitlab.example.com/"
""")
    plan = cli_json("plan", "-f", path)
    assert [c["kind"] for c in plan["plan"] if c["symbol"] == "+"].count("federatedIdentityCredential") == 2
    assert emu.writes() == []
    up = cli_json("up", "-f", path)
    assert "created" in {c["outcome"] for c in up["changes"]}
    fics = {f["name"]: f for fl in emu.state()["graph"]["federatedIdentityCredentials"].values() for f in fl}
    assert (fics["gitlab-main"]["issuer"], fics["gitlab-main"]["subject"]) == (
        "https://gitlab.com", "project_path:platform/infra/deploy:ref_type:branch:ref:main")
    assert (fics["gitlab-release-tags"]["issuer"], fics["gitlab-release-tags"]["subject"]) == (
        "https://gitlab.example.com", "project_path:platform/infra/deploy:ref_type:tag:ref:v1.0.0")
    emu.clear_requests()
    again = cli_json("up", "-f", path)
    assert {c["outcome"] for c in again["changes"]} == {"unchanged"} and emu.writes() == []
    checks = cli_json("verify", "-f", path)
    assert checks["passed"] is True
    assert emu.writes() == []


def test_a_bad_gitlab_entry_is_refused_before_any_request(env, tmp_path):
    emu = env
    path = tmp_path / "bad-gitlab.toml"
    path.write_text('[[app]]\nunique_name = "a"\n[[app.federation]]\nname = "gitlab-bad"\ngitlab = "solo"\n'
                    'branch = "main"\ntag = "v1"\ngitlab_url = "http://gitlab.example.com"\n')
    doc = cli_json("up", "-f", path, code=2)
    assert [(p["key"], p["code"]) for p in doc["error"]["problems"]] == [
        ("app[0].federation[0].gitlab", "BadFederation"), ("app[0].federation[0].gitlab_url", "BadFederation"),
        ("app[0].federation[0]", "BadFederation")]
    assert emu.requests() == []
