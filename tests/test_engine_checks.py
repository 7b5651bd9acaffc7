"""A refusal found in the file leaves nothing behind: ``up`` writes nothing at all."""

from __future__ import annotations

import json

from cli_support import cli, env  # noqa: F401 - fixture


def test_consent_to_a_privileged_role_in_the_file_is_refused_before_any_write(env, tmp_path):
    path = tmp_path / "priv.toml"
    path.write_text('[[identity]]\nname = "priv-identity"\nresource_group = "myResourceGroup"\n\n'
                    '[[app]]\nunique_name = "priv-app"\nconsent = true\n'
                    '[[app.permission]]\nroles = ["User.Read.All", "RoleManagement.ReadWrite.Directory"]\n')
    doc = json.loads(cli("up", "-f", path, "-o", "json", code=2).stdout)
    [problem] = doc["error"]["problems"]
    assert problem["code"] == "PrivilegedPermission" and problem["line"] == 9
    assert "RoleManagement.ReadWrite.Directory" in problem["message"]
    assert "allow_privileged = true" in problem["fix"]
    assert env.writes() == []                       # not the identity, app, SP or permission either
    path.write_text(path.read_text().replace("consent = true\n", "consent = true\nallow_privileged = true\n"))
    cli("up", "-f", path, "-o", "none")
    assert any("appRoleAssignedTo" in w["path"] for w in env.writes())


def _identity_file(tmp_path, target: str):
    path = tmp_path / "target.toml"
    path.write_text('[[identity]]\nname = "refuse-identity"\nresource_group = "myResourceGroup"\n'
                    f'assign_to = ["{target}"]\n\n[[app]]\nunique_name = "refuse-app"\n')
    return path


def test_a_container_group_restart_without_yes_is_refused_before_the_identity_is_created(env, tmp_path):
    path = _identity_file(tmp_path, "container-group:myContainerGroup")
    doc = json.loads(cli("up", "-f", path, "-o", "json", code=2).stdout)
    assert doc["error"]["code"] == "ConfirmationRequired" and doc["changes"] == []
    assert "restarts every container" in doc["error"]["message"] and "--yes" in doc["error"]["fix"]
    assert env.writes() == []                      # not the identity, not the app
    cli("up", "-f", path, "--yes", "-o", "none")
    assert [w for w in env.writes() if "containerGroups" in w["path"]]


def test_a_missing_target_is_refused_before_any_write(env, tmp_path):
    path = _identity_file(tmp_path, "vm:noSuchVM")
    result = cli("up", "-f", path, code=4)
    assert "noSuchVM" in result.stderr and "error[" in result.stderr
    assert env.writes() == []


def test_a_no_op_up_is_one_plan_and_sends_no_write(env, tmp_path):
    path = _identity_file(tmp_path, "vm:myVM")
    cli("up", "-f", path, "-o", "none")
    env.clear_requests()
    doc = json.loads(cli("up", "-f", path, "-o", "json").stdout)
    assert {c["outcome"] for c in doc["changes"]} == {"unchanged"} and env.writes() == []
    assert doc["result"]["identities"]["refuse-identity"]["principalId"]


def test_plan_json_on_an_error_is_one_document(env, tmp_path):
    path = _identity_file(tmp_path, "vm:noSuchVM")
    out = cli("plan", "-f", path, "-o", "json", code=4).stdout
    doc = json.loads(out)                       # one document: json.loads fails on two
    assert doc["error"]["exitCode"] == 4 and "noSuchVM" in doc["error"]["message"]
    assert [c["kind"] for c in doc["plan"]][:1] == ["userAssignedIdentity"]


def test_up_takes_the_flags_its_messages_name(env, tmp_path):
    path = _identity_file(tmp_path, "vmss:myScaleSet")
    first = cli("up", "-f", path)
    assert "--upgrade-instances" in first.stdout                     # the note names up's own flag
    doc = json.loads(cli("up", "-f", path, "--upgrade-instances", "-o", "json").stdout)
    assert ("scaleSetInstances", "update", "updated") in [(c["kind"], c["action"], c["outcome"])
                                                           for c in doc["changes"]]
    instances = env.state()["arm"]["scale_set_instances"]
    assert all(i["latestModelApplied"] for group in instances.values() for i in group.values())

    priv = tmp_path / "priv.toml"
    priv.write_text('[[app]]\nunique_name = "priv-flag-app"\nconsent = true\n'
                    '[[app.permission]]\nroles = ["RoleManagement.ReadWrite.Directory"]\n')
    refused = json.loads(cli("plan", "-f", priv, "-o", "json", code=2).stdout)
    assert "--allow-privileged" in refused["error"]["problems"][0]["fix"]
    env.clear_requests()
    cli("up", "-f", priv, "--allow-privileged", "-o", "none")
    assert [w for w in env.writes() if w["path"].endswith("/appRoleAssignedTo")]


def _remove_resource(env, suffix: str) -> None:
    state = env.state()
    resources = state["arm"]["resources"]
    for key in [k for k in resources if k.endswith(suffix)]:
        del resources[key]
    env.control("PUT", "/_emulator/state", state)


def test_down_with_a_declared_target_gone_detaches_nothing_and_deletes_the_rest(env, tmp_path):
    path = _identity_file(tmp_path, "vm:myVM")
    cli("up", "-f", path, "-o", "none")
    _remove_resource(env, "/virtualmachines/myvm")
    doc = json.loads(cli("down", "-f", path, "--yes", "-o", "json").stdout)
    outcomes = {(c["kind"], c["outcome"]) for c in doc["changes"]}
    assert ("vmIdentity", "unchanged") in outcomes and ("userAssignedIdentity", "deleted") in outcomes
    gone = next(c for c in doc["changes"] if c["kind"] == "vmIdentity")
    assert "no longer exists" in gone["reason"]
    assert not [k for k in env.state()["arm"]["resources"] if k.endswith("/refuse-identity")]


def test_identity_disable_on_a_resource_that_does_not_exist_is_still_exit_4(env):
    result = cli("identity", "disable", "--vm", "noSuchVM", "-g", "myResourceGroup", "--system-assigned",
                 code=4)
    assert "noSuchVM" in result.stderr and env.writes() == []


def test_identity_disable_of_an_identity_that_does_not_exist_is_a_typo_exit_4(env):
    result = cli("identity", "disable", "--vm", "myVM", "-g", "myResourceGroup",
                 "--user-assigned", "no-such-identity", code=4)
    assert "error[ResourceNotFound]" in result.stderr and "no-such-identity" in result.stderr
    assert env.writes() == []
    cli("identity", "create", "real-identity", "-g", "myResourceGroup", "-o", "none")
    env.clear_requests()
    again = cli("identity", "disable", "--vm", "myVM", "-g", "myResourceGroup",
                "--user-assigned", "real-identity", "-o", "json")
    assert json.loads(again.stdout)["changes"][0]["outcome"] == "unchanged" and env.writes() == []


def test_removing_a_credential_that_is_not_there_says_so(env):
    cli("app", "create", "nothing-app", "-o", "none")
    result = cli("federation", "remove", "--app", "nothing-app", "--name", "not-there")
    assert "nothing to remove" in result.stdout and "not-there" in result.stdout


def test_verify_call_sends_the_app_token_to_microsoft_graph_only(env, tmp_path):
    path = tmp_path / "call.toml"
    path.write_text('[[app]]\nunique_name = "call-app"\n')
    graph = env.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"]
    for target in ("https://attacker.example/steal", "http://" + graph.split("://", 1)[1] + "/v1.0/users",
                   "ftp://x/y", "/"):
        env.clear_requests()
        result = cli("verify", "-f", path, "--exchange", "--call", target, code=2)
        assert "error[BadCallTarget]" in result.stderr, target
        assert env.requests() == []                        # refused before any request, token included
    from entra_bootstrap.spec.rules import graph_call_url
    assert graph_call_url("/organization", "https://graph.microsoft.com") == \
        "https://graph.microsoft.com/v1.0/organization"
    assert graph_call_url("beta/users", "https://graph.microsoft.com") == "https://graph.microsoft.com/beta/users"
    assert graph_call_url("https://GRAPH.microsoft.com/v1.0/me", "https://graph.microsoft.com") == \
        "https://GRAPH.microsoft.com/v1.0/me"


def test_protect_keeps_an_app_and_an_identity_from_down(env, tmp_path):
    path = tmp_path / "protect.toml"
    path.write_text('[[identity]]\nname = "kept-identity"\nresource_group = "myResourceGroup"\nprotect = true\n'
                    'assign_to = ["vm:myVM"]\n\n'
                    '[[identity]]\nname = "gone-identity"\nresource_group = "myResourceGroup"\n\n'
                    '[[app]]\nunique_name = "kept-app"\nprotect = true\n'
                    '[[app.federation]]\nname = "kept-fic"\nmanaged_identity = "kept-identity"\n\n'
                    '[[app]]\nunique_name = "gone-app"\n')
    cli("up", "-f", path, "-o", "none")
    doc = json.loads(cli("down", "-f", path, "--yes", "-o", "json").stdout)
    outcome = {(c["kind"], c["name"]): c["outcome"] for c in doc["changes"]}
    assert outcome[("userAssignedIdentity", "kept-identity")] == "unchanged"
    assert outcome[("application", "kept-app")] == "unchanged"
    assert outcome[("userAssignedIdentity", "gone-identity")] == "deleted"
    assert outcome[("application", "gone-app")] == "deleted"
    kept = next(c for c in doc["changes"] if c["name"] == "kept-app")
    assert "protect = true" in kept["reason"]
    state = env.state()
    assert [k for k in state["arm"]["resources"] if k.endswith("/kept-identity")]
    assert not [k for k in state["arm"]["resources"] if k.endswith("/gone-identity")]
    vm = next(v for k, v in state["arm"]["resources"].items() if k.endswith("/virtualmachines/myvm"))
    assert any(k.endswith("/kept-identity") for k in vm["identity"]["userAssignedIdentities"])
    assert [a for a in state["graph"]["applications"].values() if a.get("uniqueName") == "kept-app"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[app]]\nunique_name = "x-app"\nprotect = "yes"\n')
    problems = json.loads(cli("down", "-f", bad, "-o", "json", code=2).stdout)["error"]["problems"]
    assert problems[0]["key"] == "app[0].protect" and problems[0]["code"] == "WrongType"
