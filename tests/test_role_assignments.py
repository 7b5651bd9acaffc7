"""Azure role assignments ("The last mile"): `role assign | list | remove` and the file's
[[identity.role_assignment]] / [[app.role_assignment]], end to end against the emulator through
azure-mgmt-authorization: idempotent by (principal, role, scope), an assignment made under another
name adopted, a just-created identity assigned despite replication lag, the reader refused with
the role it needs, bad input refused before any request."""

from __future__ import annotations

import asyncio

import pytest

from cli_support import cli, cli_json, env, make_app, make_identity, outcomes, twice  # noqa: F401

RG = "myResourceGroup"
READER_ID = "acdd72a7-3385-48ef-bd42-f606fba81ae7"


def sub(emu) -> str:
    return emu.env["AZURE_SUBSCRIPTION_ID"]


def assignments_of(emu, principal_id: str) -> list[dict]:
    return [ra for ra in emu.state()["arm"]["role_assignments"] if ra["principalId"] == principal_id]


def arm_authz_writes(emu) -> list[dict]:
    return [w for w in emu.writes() if "/providers/microsoft.authorization/" in w["path"].lower()]


# --- the commands ---------------------------------------------------------------------------------
def test_role_assign_to_an_identity_twice_list_and_remove_twice(env):
    ident = make_identity("mi-roles")
    env.clear_requests()
    dry = cli_json("role", "assign", "--identity", "mi-roles", "-g", RG, "--role", "Reader", "--scope",
                   "subscription", "--dry-run")
    assert outcomes(dry) == ["would create"] and dry["dryRun"] is True and env.writes() == []
    first, second = twice(env, "role", "assign", "--identity", "mi-roles", "-g", RG, "--role", "Reader",
                          "--scope", "subscription")
    (change,) = first["changes"]
    assert (change["kind"], change["outcome"], change["name"]) == ("roleAssignment", "created",
                                                                  "mi-roles: Reader on subscription")
    result = first["result"]
    assert result["principalId"] == ident["principalId"]
    assert result["scope"] == f"/subscriptions/{sub(env)}"
    assert result["roleDefinitionId"].endswith(READER_ID)
    assert second["changes"][0]["reason"] == "assigned" and second["result"]["id"] == result["id"]
    (stored,) = assignments_of(env, ident["principalId"])
    assert stored["principalType"] == "ServicePrincipal" and stored["name"] == result["name"]

    table = cli("role", "list", "--identity", "mi-roles", "-g", RG).stdout
    assert "Reader" in table and result["name"] in table
    rows = cli_json("role", "list", "--identity", "mi-roles", "-g", RG)
    assert [(r["roleName"], r["id"]) for r in rows] == [("Reader", result["id"])]
    tsv = cli("role", "list", "--identity", "mi-roles", "-g", RG, "-o", "tsv").stdout
    assert tsv.strip().split("\t") == ["Reader", f"/subscriptions/{sub(env)}", result["id"]]

    removed, again = twice(env, "role", "remove", "--identity", "mi-roles", "-g", RG, "--role", "Reader",
                           "--scope", "subscription")
    assert outcomes(removed) == ["deleted"] and again["changes"][0]["reason"] == "not assigned"
    assert assignments_of(env, ident["principalId"]) == []
    assert "no role assignment" in cli("role", "list", "--identity", "mi-roles", "-g", RG).stdout


def test_role_assign_to_an_app_s_service_principal_on_a_resource_group_by_role_id(env):
    app = make_app("roles-app")
    cli("sp", "create", "--app", app["appId"], "-o", "none")
    first, _ = twice(env, "role", "assign", "--app", app["appId"], "--role", READER_ID,
                     "--scope", f"resource_group:{RG}")
    sp = cli_json("sp", "show", "--app", app["appId"])
    assert first["result"]["principalId"] == sp["id"]
    assert first["result"]["scope"] == f"/subscriptions/{sub(env)}/resourceGroups/{RG}"
    # a full role definition id and a resource id scope name the same assignment
    _, same = twice(env, "role", "assign", "--app", app["appId"], "--role",
                    f"/subscriptions/{sub(env)}/providers/Microsoft.Authorization/roleDefinitions/{READER_ID}",
                    "--scope", f"/subscriptions/{sub(env)}/resourceGroups/{RG}")
    assert same["result"]["id"] == first["result"]["id"]


def test_an_app_without_service_principal_is_exit_4_with_the_fix(env):
    app = make_app("no-sp-app")
    env.clear_requests()
    result = cli("role", "assign", "--app", app["appId"], "--role", "Reader", "--scope", "subscription", code=4)
    assert "error[ServicePrincipalNotFound]" in result.stderr and "sp create" in result.stderr
    assert env.writes() == []


def test_an_assignment_made_under_another_name_is_adopted_not_duplicated(env):
    ident = make_identity("mi-adopt")
    state = env.state()
    scope = f"/subscriptions/{sub(env)}/resourceGroups/{RG}"
    state["arm"]["role_assignments"].append({        # made by the portal / Azure CLI: a random name
        "name": "0d9a1f3e-5b7c-4d2e-8f6a-1b2c3d4e5f60", "principalId": ident["principalId"],
        "roleDefinitionName": "Reader", "principalType": "ServicePrincipal", "scope": scope})
    env.control("PUT", "/_emulator/state", state)
    env.clear_requests()
    doc = cli_json("role", "assign", "--identity", "mi-adopt", "-g", RG, "--role", "reader",
                   "--scope", f"resource_group:{RG}")
    (change,) = doc["changes"]
    assert change["outcome"] == "unchanged"
    assert change["reason"] == "assigned under the name 0d9a1f3e-5b7c-4d2e-8f6a-1b2c3d4e5f60 (adopted)"
    assert env.writes() == [] and len(assignments_of(env, ident["principalId"])) == 1
    cli_json("role", "remove", "--identity", "mi-adopt", "-g", RG, "--role", "Reader",
             "--scope", f"resource_group:{RG}")
    assert assignments_of(env, ident["principalId"]) == []


def test_a_409_role_assignment_exists_from_a_race_is_re_read_and_adopted(env):
    """Another tool assigns the role between our read and our PUT: ARM answers 409, we adopt it."""
    from entra_bootstrap.clients.arm_authorization import authorization
    from entra_bootstrap.engine.session import open_session

    ident = make_identity("mi-race")
    scope = f"/subscriptions/{sub(env)}"
    role_id = f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{READER_ID}"

    async def go():
        session = open_session(cloud="custom", tenant=None, subscription=None)
        try:
            ops = authorization(session)
            first = await ops.create_role_assignment(scope, "5a1b2c3d-0000-4000-8000-000000000001", role_id,
                                                     ident["principalId"], "ServicePrincipal")
            second = await ops.create_role_assignment(scope, "5a1b2c3d-0000-4000-8000-000000000002", role_id,
                                                      ident["principalId"], "ServicePrincipal")
            return first, second
        finally:
            await session.close()

    first, second = asyncio.run(go())
    assert first["name"] == "5a1b2c3d-0000-4000-8000-000000000001" and second is None
    doc = cli_json("role", "assign", "--identity", "mi-race", "-g", RG, "--role", "Reader", "--scope", "subscription")
    assert doc["changes"][0]["reason"].endswith("(adopted)")


def test_principal_not_found_while_replicating_is_retried(env):
    """Without principalType ARM refuses a just-created principal (400 PrincipalNotFound) until it
    has replicated: the client retries it as replication delay."""
    from entra_bootstrap.clients.arm_authorization import authorization
    from entra_bootstrap.engine.session import open_session

    env.faults(replication_lag=3)
    ident = make_identity("mi-lagging")
    env.clear_requests()
    scope = f"/subscriptions/{sub(env)}"

    async def go():
        session = open_session(cloud="custom", tenant=None, subscription=None)
        try:
            return await authorization(session).create_role_assignment(
                scope, "6b1b2c3d-0000-4000-8000-000000000001",
                f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{READER_ID}", ident["principalId"], None)
        finally:
            await session.close()

    made = asyncio.run(go())
    assert made["principalId"] == ident["principalId"]
    puts = [r["status"] for r in env.requests() if r["method"] == "PUT"]
    assert puts[-1] == 201 and puts.count(400) >= 1


@pytest.mark.parametrize("args, code, text", [
    (["--identity", "mi", "-g", RG, "--role", "Reader", "--scope", "tenant"], "BadScope",
     "--scope 'tenant' is not a scope"),
    (["--identity", "mi", "-g", RG, "--role", "Reader", "--scope", "resource_group:bad/name"], "BadScope",
     "resource group"),
    (["--identity", "mi", "-g", RG, "--role", "/subscriptions/x/roles/y", "--scope", "subscription"], "BadRole",
     "is neither a role name nor a role definition id"),
    (["--identity", "mi", "-g", RG, "--app", "x", "--role", "Reader", "--scope", "subscription"], "BadPrincipal",
     "exactly one of --identity and --app"),
    (["--identity", "m!", "-g", RG, "--role", "Reader", "--scope", "subscription"], "InvalidResourceName",
     "naming rules"),
    (["--identity", "mi-x", "--role", "Reader", "--scope", "subscription"], "MissingResourceGroup",
     "without its resource group"),
])
def test_bad_input_is_refused_before_any_request(env, args, code, text):
    result = cli_json("role", "assign", *args, code=2)
    assert result["error"]["code"] == code and text in result["error"]["message"]
    assert result["error"].get("fix")
    assert env.requests() == []


def test_an_unknown_role_is_exit_2_naming_close_built_in_roles_before_any_write(env):
    make_identity("mi-typo")
    env.clear_requests()
    result = cli("role", "assign", "--identity", "mi-typo", "-g", RG, "--role", "Storage Blob Data Readr",
                 "--scope", "subscription", code=2)
    assert "error[UnknownRole]: 'Storage Blob Data Readr' is not a role of this subscription" in result.stderr
    assert "did you mean Storage Blob Data Reader" in result.stderr
    assert env.writes() == []


def test_the_reader_is_refused_with_403_naming_the_role_it_needs(env, monkeypatch):
    make_identity("mi-for-reader")
    monkeypatch.setenv("AZURE_CLIENT_ID", env.env["EMULATOR_READER_CLIENT_ID"])
    monkeypatch.setenv("AZURE_CLIENT_SECRET", env.env["EMULATOR_READER_CLIENT_SECRET"])
    doc = cli_json("role", "assign", "--identity", "mi-for-reader", "-g", RG, "--role", "Reader",
                   "--scope", "subscription", code=3)
    err = doc["error"]
    assert (err["code"], err["status"]) == ("AuthorizationFailed", 403)
    assert "Microsoft.Authorization/roleAssignments/write" in err["message"]
    assert "User Access Administrator" in err["fix"] and "Contributor also" not in err["fix"]
    # reading is allowed
    assert cli_json("role", "list", "--identity", "mi-for-reader", "-g", RG) == []


# --- the file ---------------------------------------------------------------------------------------
FILE = f"""
[[identity]]
name = "mi-file"
resource_group = "{RG}"

[[identity.role_assignment]]
role = "Reader"
scope = "subscription"

[[identity.role_assignment]]
role = "Storage Blob Data Reader"
scope = "resource_group:{RG}"

[[app]]
unique_name = "roles-file-app"

[[app.role_assignment]]
role = "{READER_ID}"
scope = "resource_group:{RG}"
"""


@pytest.fixture
def bootstrap(tmp_path):
    path = tmp_path / "bootstrap.toml"
    path.write_text(FILE)
    return path


def test_the_file_plans_applies_verifies_and_tears_down_role_assignments_despite_replication_lag(env, bootstrap):
    emu = env
    emu.faults(replication_lag=3)
    plan = cli_json("plan", "-f", bootstrap)
    roles = [c for c in plan["plan"] if c["kind"] == "roleAssignment"]
    assert [(c["name"], c["reason"]) for c in roles] == [
        ("mi-file: Reader on subscription", "after the identity is created"),
        (f"mi-file: Storage Blob Data Reader on resource_group:{RG}", "after the identity is created"),
        (f"roles-file-app: Reader on resource_group:{RG}", "after the service principal is created")]
    assert emu.writes() == []

    up = cli_json("up", "-f", bootstrap)
    created = [c for c in up["changes"] if c["kind"] == "roleAssignment"]
    assert [c["outcome"] for c in created] == ["created"] * 3
    ident = up["result"]["identities"]["mi-file"]
    mine = assignments_of(emu, ident["principalId"])
    assert sorted(ra["roleDefinitionName"] for ra in mine) == ["Reader", "Storage Blob Data Reader"]
    sp_id = up["result"]["apps"]["roles-file-app"]["servicePrincipalId"]
    assert [ra["roleDefinitionName"] for ra in assignments_of(emu, sp_id)] == ["Reader"]

    emu.faults(replication_lag=0)
    emu.control("PUT", "/_emulator/state", emu.state())     # everything has replicated now
    emu.clear_requests()
    again = cli_json("up", "-f", bootstrap)
    assert set(outcomes(again)) == {"unchanged"} and emu.writes() == []

    checks = cli_json("verify", "-f", bootstrap)
    assert checks["passed"] is True
    assert [c["check"] for c in checks["checks"]].count("role assigned") == 3

    down = cli_json("down", "-f", bootstrap, "--yes")
    removed = [c for c in down["changes"] if c["kind"] == "roleAssignment"]
    assert [c["outcome"] for c in removed] == ["deleted"] * 3
    assert assignments_of(emu, ident["principalId"]) == [] and assignments_of(emu, sp_id) == []
    # the assignments go before the identity (down_phase 1, identities 3)
    kinds = [c["kind"] for c in down["changes"] if c["outcome"] == "deleted"]
    assert kinds.index("roleAssignment") < kinds.index("userAssignedIdentity")


def test_a_run_cut_off_after_a_role_assignment_is_finished_by_the_next(env, bootstrap):
    emu = env
    cli("up", "-f", bootstrap, "-o", "none")
    ident = cli_json("identity", "show", "mi-file", "-g", RG)
    state = emu.state()
    state["arm"]["role_assignments"] = [ra for ra in state["arm"]["role_assignments"]
                                        if not (ra["principalId"] == ident["principalId"]
                                                and ra["roleDefinitionName"] == "Reader")]
    emu.control("PUT", "/_emulator/state", state)
    emu.clear_requests()
    up = cli_json("up", "-f", bootstrap)
    assert [c["name"] for c in up["changes"] if c["outcome"] == "created"] == ["mi-file: Reader on subscription"]
    assert len(arm_authz_writes(emu)) == 1


def test_the_file_refuses_bad_role_assignments_with_file_line_and_key(env, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(FILE.replace('scope = "subscription"', 'scope = "tenant"').replace(
        f'role = "{READER_ID}"', 'role = "/nope"\nsope = "x"'))
    doc = cli_json("plan", "-f", path, code=2)
    problems = {p["key"]: p for p in doc["error"]["problems"]}
    assert {"identity[0].role_assignment[0].scope", "app[0].role_assignment[0].role",
            "app[0].role_assignment[0].sope"} <= set(problems)
    assert "'tenant' is not a scope" in problems["identity[0].role_assignment[0].scope"]["message"]
    assert "neither a role name nor a role definition id" in problems["app[0].role_assignment[0].role"]["message"]
    assert all(p["line"] for p in problems.values())
    assert env.requests() == []


def test_the_file_s_unknown_role_is_refused_by_the_check_before_any_write(env, tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text(FILE.replace('role = "Reader"', 'role = "Contributer"'))
    result = cli("up", "-f", path, code=2)
    assert "UnknownRole" in result.stderr and "did you mean Contributor" in result.stderr
    assert env.writes() == []
    assert len(env.state()["arm"]["role_assignments"]) == 2        # the seeded ones only


def test_the_assignment_name_is_a_uuid5_of_scope_role_and_principal_lower_cased():
    import uuid

    from entra_bootstrap.steps.role_assignment import assignment_name

    scope = "/subscriptions/0B1F6471-1BF0-4DDA-AEC3-CB9272F09590/resourceGroups/RG"
    name = assignment_name(scope, READER_ID.upper(), "A1B2C3D4-0001-4000-8000-0000000000B1")
    assert name == assignment_name(scope.lower(), READER_ID, "a1b2c3d4-0001-4000-8000-0000000000b1")
    assert name == str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{READER_ID}|a1b2c3d4-0001-4000-8000-0000000000b1".lower()))
    assert uuid.UUID(name).version == 5


def test_down_leaves_the_role_assignments_of_a_protected_identity(env, bootstrap):
    bootstrap.write_text(FILE.replace(f'resource_group = "{RG}"\n', f'resource_group = "{RG}"\nprotect = true\n', 1))
    up = cli_json("up", "-f", bootstrap)
    principal = up["result"]["identities"]["mi-file"]["principalId"]
    down = cli_json("down", "-f", bootstrap, "--yes")
    assert [c["outcome"] for c in down["changes"] if c["kind"] == "roleAssignment"] == ["deleted"]   # the app's
    assert len(assignments_of(env, principal)) == 2
