"""Direct grants: ``identity grant | revoke`` and ``[[identity.permission]]`` end to end against the
emulator. The proof is the identity's own token: ManagedIdentityCredential against the emulator
acting as myVM's metadata endpoint (Microsoft Entra: "Assign a managed identity access to an
application role"; the token's ``roles`` claim carries the app roles assigned to its principal).
"""

from __future__ import annotations

import base64
import json

import pytest

from cli_support import cli, cli_json, env, graph_writes, outcomes, twice  # noqa: F401 - fixture

RG = "myResourceGroup"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

FILE = """
[[identity]]
name = "m365-mi"
resource_group = "myResourceGroup"
assign_to = ["vm:myVM"]

  [[identity.permission]]
  api = "Microsoft Graph"
  roles = ["DeviceManagementConfiguration.ReadWrite.All", "User.Read.All"]
"""


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def token_roles(emu, client_id: str) -> list[str]:
    """The roles of the identity's own Graph token, got as myVM would (its metadata endpoint)."""
    from azure.identity import ManagedIdentityCredential

    cred = ManagedIdentityCredential(client_id=client_id, connection_verify=emu.ca)
    try:
        token = cred.get_token(emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"] + "/.default").token
    finally:
        cred.close()
    found = claims(token)
    assert found["appid"] == client_id
    return sorted(found.get("roles", []))


def identity_on_vm(name: str = "m365-mi") -> dict:
    ident = cli_json("identity", "create", name, "-g", RG)["result"]
    cli("identity", "enable", "--vm", "myVM", "-g", RG, "--user-assigned", name, "-o", "none")
    return ident


def assignments_of(emu, principal_id: str) -> list[dict]:
    return [a for a in emu.state()["graph"]["appRoleAssignments"].values() if a["principalId"] == principal_id]


def refused(emu, code: int, *args) -> str:
    """Refused with ``code`` and no request at all (checked before the first one)."""
    emu.clear_requests()
    result = cli(*args, code=code)
    assert emu.requests() == [], emu.requests()
    assert "Traceback" not in result.output
    return result.stderr


# --- identity grant | revoke ------------------------------------------------------------------------
def test_grant_and_revoke_twice_and_the_token_follows(env):
    emu = env
    ident = identity_on_vm()
    assert token_roles(emu, ident["clientId"]) == []

    first, _ = twice(emu, "identity", "grant", "m365-mi", "-g", RG, "--role", "User.Read.All",
                     "--role", "DeviceManagementConfiguration.ReadWrite.All")
    assert outcomes(first) == ["created", "created"]
    assert [c["kind"] for c in first["changes"]] == ["identityAppRoleAssignment"] * 2
    result = first["result"]
    assert result["principalId"] == ident["principalId"] and result["resourceAppId"] == GRAPH_APP_ID
    assert sorted(result["roles"]) == ["DeviceManagementConfiguration.ReadWrite.All", "User.Read.All"]
    held = assignments_of(emu, ident["principalId"])
    assert sorted(a["id"] for a in held) == sorted(result["appRoleAssignments"])
    assert token_roles(emu, ident["clientId"]) == ["DeviceManagementConfiguration.ReadWrite.All",
                                                   "User.Read.All"]
    # -o tsv: the principal id.
    tsv = cli("identity", "grant", "m365-mi", "-g", RG, "--role", "User.Read.All", "-o", "tsv")
    assert tsv.stdout.strip() == ident["principalId"]

    one, _ = twice(emu, "identity", "revoke", "m365-mi", "-g", RG, "--role", "User.Read.All")
    assert outcomes(one) == ["deleted"]
    assert token_roles(emu, ident["clientId"]) == ["DeviceManagementConfiguration.ReadWrite.All"]

    # No --role: every app role the identity holds on the API.
    rest, _ = twice(emu, "identity", "revoke", "m365-mi", "-g", RG)
    assert outcomes(rest) == ["deleted"]
    assert assignments_of(emu, ident["principalId"]) == []
    assert token_roles(emu, ident["clientId"]) == []


def test_grant_dry_run_writes_nothing_and_by_resource_id(env):
    emu = env
    ident = identity_on_vm()
    emu.clear_requests()
    plan = cli_json("identity", "grant", "m365-mi", "-g", RG, "--role", "User.Read.All", "--dry-run")
    assert [c["action"] for c in plan["changes"]] == ["create"]
    assert emu.writes() == []
    by_id = cli_json("identity", "grant", ident["id"], "--role", "User.Read.All")
    assert outcomes(by_id) == ["created"]
    by_principal = cli_json("identity", "grant", ident["principalId"], "--role", "User.Read.All")
    assert outcomes(by_principal) == ["unchanged"]
    # A run cut off after its first write: the next one does only what is left.
    rest = cli_json("identity", "grant", "m365-mi", "-g", RG, "--role", "User.Read.All,Group.Read.All")
    assert outcomes(rest) == ["unchanged", "created"]
    assert len(assignments_of(emu, ident["principalId"])) == 2


def test_table_output_names_the_grant(env):
    identity_on_vm()
    out = cli("identity", "grant", "m365-mi", "-g", RG, "--role", "User.Read.All").stdout
    assert "m365-mi -> Microsoft Graph: User.Read.All" in out


def test_a_just_created_identity_survives_replication_lag(env):
    emu = env
    emu.faults(replication_lag=3)   # what is created from now on is invisible to its next 3 references
    fresh = cli_json("identity", "create", "lag-mi", "-g", RG)["result"]
    emu.clear_requests()
    first = cli_json("identity", "grant", "lag-mi", "-g", RG, "--role", "User.Read.All")
    assert outcomes(first) == ["created"]
    lagged = [r for r in emu.requests() if fresh["principalId"] in r["path"] and r["status"] == 404]
    assert lagged, "the identity's service principal should have lagged"
    assert [a["principalId"] for a in assignments_of(emu, fresh["principalId"])] == [fresh["principalId"]]
    emu.faults(replication_lag=0)
    emu.clear_requests()
    again = cli_json("identity", "grant", "lag-mi", "-g", RG, "--role", "User.Read.All")
    assert outcomes(again) == ["unchanged"] and emu.writes() == []


# --- bad input: refused before any request ------------------------------------------------------------
def test_unknown_permission_is_refused_with_suggestions(emu):
    err = refused(emu, 2, "identity", "grant", "m365-mi", "-g", RG, "--role", "User.Read.Al")
    assert "UnknownPermission" in err and "User.Read.All" in err


def test_privileged_role_needs_allow_privileged(emu):
    err = refused(emu, 2, "identity", "grant", "m365-mi", "-g", RG, "--role", "AppRoleAssignment.ReadWrite.All")
    assert "PrivilegedPermission" in err and "--allow-privileged" in err


def test_a_delegated_scope_is_not_a_role(emu):
    err = refused(emu, 2, "identity", "grant", "m365-mi", "-g", RG, "--role", "User.Read")
    assert "UnknownPermission" in err and "delegated permission" in err and "app roles" in err


def test_grant_needs_a_role_and_a_resource_group(emu):
    assert "NoPermission" in refused(emu, 2, "identity", "grant", "m365-mi", "-g", RG)
    assert "MissingResourceGroup" in refused(emu, 2, "identity", "grant", "m365-mi", "--role", "User.Read.All")
    assert "BadApi" in refused(emu, 2, "identity", "grant", "m365-mi", "-g", RG, "--api", "graph api",
                               "--role", "User.Read.All")


def test_unknown_identity_is_exit_4(emu):
    result = cli("identity", "grant", "nobody-mi", "-g", RG, "--role", "User.Read.All", code=4)
    assert "ResourceNotFound" in result.stderr
    assert graph_writes(emu) == []


def test_reader_is_refused_with_403_naming_the_permission(env, monkeypatch):
    emu = env
    ident = identity_on_vm()
    monkeypatch.setenv("AZURE_CLIENT_ID", emu.env["EMULATOR_READER_CLIENT_ID"])
    monkeypatch.setenv("AZURE_CLIENT_SECRET", emu.env["EMULATOR_READER_CLIENT_SECRET"])
    emu.clear_requests()
    result = cli("identity", "grant", "m365-mi", "-g", RG, "--role", "User.Read.All", code=3)
    assert "Authorization_RequestDenied" in result.stderr
    assert "AppRoleAssignment.ReadWrite.All" in result.stderr
    assert [w for w in emu.writes() if w["status"] < 400] == []
    assert assignments_of(emu, ident["principalId"]) == []


# --- the bootstrap file -------------------------------------------------------------------------------
@pytest.fixture
def bootstrap(tmp_path):
    path = tmp_path / "bootstrap.toml"
    path.write_text(FILE)
    return path


def test_file_plan_up_verify_down(env, bootstrap):
    emu = env
    plan = cli_json("plan", "-f", bootstrap)
    grants = [c for c in plan["plan"] if c["kind"] == "identityAppRoleAssignment"]
    assert [(c["name"], c["action"]) for c in grants] == [
        ("m365-mi -> Microsoft Graph: DeviceManagementConfiguration.ReadWrite.All", "create"),
        ("m365-mi -> Microsoft Graph: User.Read.All", "create")]
    assert all("after the identity is created" in c["reason"] for c in grants)
    assert emu.writes() == []

    up = cli_json("up", "-f", bootstrap)
    assert set(outcomes(up)) <= {"created", "updated"}
    ident = up["result"]["identities"]["m365-mi"]
    assert token_roles(emu, ident["clientId"]) == ["DeviceManagementConfiguration.ReadWrite.All",
                                                   "User.Read.All"]
    emu.clear_requests()
    again = cli_json("up", "-f", bootstrap)
    assert set(outcomes(again)) == {"unchanged"} and emu.writes() == []

    checks = cli_json("verify", "-f", bootstrap)
    assert checks["passed"] is True
    assert [c["check"] for c in checks["checks"]].count("identity permission granted") == 2

    # Somebody revokes one: verify says so, up puts it back.
    cli("identity", "revoke", "m365-mi", "-g", RG, "--role", "User.Read.All", "-o", "none")
    cli("verify", "-f", bootstrap, code=1)
    assert outcomes(cli_json("up", "-f", bootstrap)).count("created") == 1

    down = cli_json("down", "-f", bootstrap, "--yes")
    deleted = [c["kind"] for c in down["changes"] if c["outcome"] == "deleted"]
    assert deleted[:2] == ["identityAppRoleAssignment"] * 2 and deleted[-1] == "userAssignedIdentity"
    assert assignments_of(emu, ident["principalId"]) == []
    state = emu.state()["arm"]["resources"]
    assert not any(k.endswith("/userassignedidentities/m365-mi") for k in state)
    emu.clear_requests()
    again = cli_json("down", "-f", bootstrap, "--yes")
    assert set(outcomes(again)) == {"unchanged"} and emu.writes() == []


def test_file_up_with_replication_lag(env, bootstrap):
    emu = env
    emu.faults(replication_lag=2)
    up = cli_json("up", "-f", bootstrap)
    assert outcomes(up).count("created") >= 3
    ident = up["result"]["identities"]["m365-mi"]
    assert len(assignments_of(emu, ident["principalId"])) == 2
    emu.faults(replication_lag=0)
    assert token_roles(emu, ident["clientId"]) == ["DeviceManagementConfiguration.ReadWrite.All",
                                                   "User.Read.All"]


def test_file_refuses_bad_entries_before_any_request(emu, tmp_path):
    from entra_bootstrap.spec import SpecError, load_spec
    from entra_bootstrap.steps.identity_grant import SECTION

    path = tmp_path / "bad.toml"
    path.write_text(FILE.replace('"User.Read.All"', '"User.Read.Al", "User.Read", "RoleManagement.ReadWrite.Directory"')
                    + '  [[identity.permission]]\n  api = "not an api"\n  roles = ["X"]\n')
    emu.clear_requests()
    result = cli("plan", "-f", path, code=2)
    assert emu.requests() == []
    err = result.stderr
    assert "identity[0].permission[0].roles: 'User.Read.Al' is not an application permission" in err
    assert "did you mean User.Read.All" in err
    assert "'User.Read' is not an application permission (app role) of Microsoft Graph; it is a " \
           "delegated permission" in err
    assert "privileged Microsoft Graph application permission RoleManagement.ReadWrite.Directory" in err
    assert "identity[0].permission[1].api" in err
    with pytest.raises(SpecError) as refused_:
        load_spec(path, sections=[SECTION])
    assert sorted(p.code for p in refused_.value.problems) == [
        "BadApi", "PrivilegedPermission", "UnknownPermission", "UnknownPermission"]

    # The run's --allow-privileged lets the privileged role through, as allow_privileged = true does.
    path.write_text(FILE.replace('"User.Read.All"', '"RoleManagement.ReadWrite.Directory"'))
    cli("plan", "-f", path, code=2)
    plan = cli_json("plan", "-f", path, "--allow-privileged")
    assert any(c["name"].endswith("RoleManagement.ReadWrite.Directory") for c in plan["plan"])
    # allow_privileged = true lets the privileged role through, as for [[app.permission]].
    path.write_text(FILE.replace('"User.Read.All"', '"RoleManagement.ReadWrite.Directory"')
                    .replace('  api = "Microsoft Graph"\n', '  api = "Microsoft Graph"\n  allow_privileged = true\n'))
    plan = cli_json("plan", "-f", path)
    assert any(c["name"].endswith("RoleManagement.ReadWrite.Directory") for c in plan["plan"])


def test_file_roles_of_another_api_are_resolved_before_any_write(env, tmp_path):
    emu = env
    api = emu.state()["seed"]["operator"]["appId"]          # an API of the tenant that defines no app role
    path = tmp_path / "other.toml"
    path.write_text(FILE.replace('api = "Microsoft Graph"', f'api = "{api}"')
                    .replace('"DeviceManagementConfiguration.ReadWrite.All", "User.Read.All"', '"Tasks.Run"'))
    emu.clear_requests()
    result = cli("up", "-f", path, code=2)
    assert "UnknownPermission" in result.stderr and "'Tasks.Run'" in result.stderr
    assert emu.writes() == []


def test_show_grants_lists_the_roles_the_identity_holds(env):
    emu = env
    ident = identity_on_vm()
    assert cli("identity", "show", "m365-mi", "-g", RG, "--grants").stdout.strip() == \
        "the identity 'm365-mi' holds no app role"
    cli("identity", "grant", "m365-mi", "-g", RG, "--role", "User.Read.All", "-o", "none")
    doc = cli_json("identity", "show", "m365-mi", "-g", RG, "--grants")
    assert doc["principalId"] == ident["principalId"]
    assert [(g["api"], g["role"], g["resourceAppId"]) for g in doc["grants"]] == [
        ("Microsoft Graph", "User.Read.All", GRAPH_APP_ID)]
    emu.clear_requests()
    tsv = cli("identity", "show", "m365-mi", "-g", RG, "--grants", "-o", "tsv").stdout.split("\t")
    assert tsv[:2] == [GRAPH_APP_ID, "User.Read.All"] and emu.writes() == []
    # Without --grants, show is what it was (ARM only).
    emu.clear_requests()
    plain = cli_json("identity", "show", "m365-mi", "-g", RG)
    assert "grants" not in plain and not any(r["path"].startswith("/graph/") for r in emu.requests())
    assert "BadOption" in refused(emu, 2, "identity", "show", "--vm", "myVM", "-g", RG, "--grants")
