"""End to end: `permission add|list|remove` and `consent grant|revoke` against the emulator."""

from __future__ import annotations

from cli_support import cli, cli_json, env, graph_writes, make_app, outcomes, twice  # noqa: F401

GRAPH = "00000003-0000-0000-c000-000000000000"
DEVICE_CONFIG = "9241abd9-d0e6-425a-bd4f-47ba86e767a4"      # DeviceManagementConfiguration.ReadWrite.All


def _rra(env, unique_name="my-app") -> list:
    app = next(a for a in env.state()["graph"]["applications"].values() if a.get("uniqueName") == unique_name)
    return app["requiredResourceAccess"]


def test_permission_add_twice_merges_without_duplicates(env):
    make_app()
    first, _ = twice(env, "permission", "add", "--app", "my-app",
                     "--role", "DeviceManagementConfiguration.ReadWrite.All", "--scope", "User.Read.All")
    assert outcomes(first) == ["created"]
    # the same name as a role and as a scope is two permissions with different ids (Microsoft Graph permissions reference)
    rra = _rra(env)
    assert len(rra) == 1 and rra[0]["resourceAppId"] == GRAPH
    assert {(a["id"], a["type"]) for a in rra[0]["resourceAccess"]} == {
        (DEVICE_CONFIG, "Role"), ("a154be20-db9c-4678-8ab7-66f6cc099a59", "Scope")}
    # by id, and a name already there: only the new one is added
    doc = cli_json("permission", "add", "--app", "my-app", "--role", f"{DEVICE_CONFIG},User.Read.All")
    assert outcomes(doc) == ["updated"] and "+ Role User.Read.All" in doc["changes"][0]["reason"]
    assert len(_rra(env)[0]["resourceAccess"]) == 3


def test_permission_add_leaves_other_apis_alone(env):
    make_app()
    other = make_app("Other API")
    cli("sp", "create", "--app", "other-api")
    # an API without roles: a scope would need one; here the resource has none, so use Graph first
    cli("permission", "add", "--app", "my-app", "--role", "User.Read.All")
    state = env.state()
    app = next(a for a in state["graph"]["applications"].values() if a.get("uniqueName") == "my-app")
    assert app["requiredResourceAccess"][0]["resourceAppId"] == GRAPH
    res = cli("permission", "add", "--app", "my-app", "--api", other["appId"], "--role", "Anything", code=2)
    assert "UnknownPermission" in res.stderr


def test_permission_list_and_remove_twice(env):
    make_app()
    cli("permission", "add", "--app", "my-app", "--role", "User.Read.All", "--scope", "User.Read")
    rows = cli_json("permission", "list", "--app", "my-app")
    assert {(r["type"], r["name"]) for r in rows} == {("Role", "User.Read.All"), ("Scope", "User.Read")}
    assert "User.Read.All" in cli("permission", "list", "--app", "my-app").stdout
    first, _ = twice(env, "permission", "remove", "--app", "my-app", "--scope", "User.Read")
    assert outcomes(first) == ["updated"]
    first, _ = twice(env, "permission", "remove", "--app", "my-app", "--role", "User.Read.All")
    assert outcomes(first) == ["deleted"]
    assert _rra(env) == []


def test_unknown_permission_name_fails_before_any_request_with_suggestions(env):
    res = cli("permission", "add", "--app", "my-app", "--role", "DeviceManagementConfiguration.ReadWrite.Al",
              code=2)
    assert "UnknownPermission" in res.stderr
    assert "did you mean DeviceManagementConfiguration.ReadWrite.All" in res.stderr
    res = cli("permission", "add", "--app", "my-app", "--role", "User.Read", code=2)
    assert "delegated permission" in res.stderr and "--scope" in res.stderr
    assert env.requests() == []


def test_malformed_guids_are_exit_2(env):
    for args in (["--role", "9241abd9-d0e6-425a-bd4f-47ba86e767a"],
                 ["--api", "00000003-0000-0000-c000-00000000000", "--role", "x"]):
        res = cli("permission", "add", "--app", "my-app", *args, code=2)
        assert "MalformedGuid" in res.stderr
    res = cli("owner", "add", "--app", "my-app", "--principal", "not-a-guid", code=2)
    assert "MalformedGuid" in res.stderr
    assert env.requests() == []


def test_unknown_permission_id_fails_before_any_write(env):
    make_app()
    env.clear_requests()
    res = cli("permission", "add", "--app", "my-app", "--role", "00000000-0000-0000-0000-000000000001", code=2)
    assert "is not an application permission" in res.stderr
    assert env.writes() == []


def test_consent_grant_twice_and_revoke_twice(env):
    make_app()
    cli("sp", "create", "--app", "my-app")
    cli("permission", "add", "--app", "my-app", "--role", "DeviceManagementConfiguration.ReadWrite.All",
        "--scope", "User.Read", "--scope", "openid")
    first, _ = twice(env, "consent", "grant", "--app", "my-app")
    assert outcomes(first) == ["created", "created"]
    state = env.state()["graph"]
    sp_id = first["result"]["servicePrincipalId"]
    assignments = [a for a in state["appRoleAssignments"].values() if a["principalId"] == sp_id]
    assert [a["appRoleId"] for a in assignments] == [DEVICE_CONFIG]
    grants = [g for g in state["oauth2PermissionGrants"].values() if g["clientId"] == sp_id]
    assert len(grants) == 1 and set(grants[0]["scope"].split()) == {"User.Read", "openid"}
    assert grants[0]["consentType"] == "AllPrincipals"
    # a scope added later is PATCHed into the same grant, never a second grant
    cli("permission", "add", "--app", "my-app", "--scope", "email")
    doc = cli_json("consent", "grant", "--app", "my-app")
    assert sorted(outcomes(doc)) == ["unchanged", "updated"]
    grants = [g for g in env.state()["graph"]["oauth2PermissionGrants"].values() if g["clientId"] == sp_id]
    assert len(grants) == 1 and set(grants[0]["scope"].split()) == {"User.Read", "openid", "email"}
    revoked, _ = twice(env, "consent", "revoke", "--app", "my-app")
    assert sorted(outcomes(revoked)) == ["deleted", "deleted"]
    state = env.state()["graph"]
    assert not [a for a in state["appRoleAssignments"].values() if a["principalId"] == sp_id]
    assert not [g for g in state["oauth2PermissionGrants"].values() if g["clientId"] == sp_id]


def test_consent_revoke_after_permission_remove_still_revokes(env):
    """Permissions removed first: `consent revoke` must still remove the consent the app holds,
    not report "no permission requested" and leave the app roles and the grant in place."""
    make_app()
    cli("sp", "create", "--app", "my-app")
    cli("permission", "add", "--app", "my-app", "--role", "DeviceManagementConfiguration.ReadWrite.All",
        "--scope", "User.Read")
    sp_id = cli_json("consent", "grant", "--app", "my-app")["result"]["servicePrincipalId"]
    cli("permission", "remove", "--app", "my-app", "--role", "DeviceManagementConfiguration.ReadWrite.All",
        "--scope", "User.Read")
    revoked, _ = twice(env, "consent", "revoke", "--app", "my-app")
    assert sorted(outcomes(revoked)) == ["deleted", "deleted"]
    state = env.state()["graph"]
    assert not [a for a in state["appRoleAssignments"].values() if a["principalId"] == sp_id]
    assert not [g for g in state["oauth2PermissionGrants"].values() if g["clientId"] == sp_id]


def test_consent_refuses_privileged_roles_without_the_flag(env):
    make_app()
    cli("sp", "create", "--app", "my-app")
    cli("permission", "add", "--app", "my-app", "--role", "RoleManagement.ReadWrite.Directory")
    env.clear_requests()
    res = cli("consent", "grant", "--app", "my-app", code=2)
    assert "PrivilegedPermission" in res.stderr and "RoleManagement.ReadWrite.Directory" in res.stderr
    assert "--allow-privileged" in res.stderr
    assert env.writes() == []
    doc = cli_json("consent", "grant", "--app", "my-app", "--allow-privileged")
    assert outcomes(doc) == ["created"]


def test_consent_without_service_principal_is_exit_4(env):
    make_app()
    cli("permission", "add", "--app", "my-app", "--role", "User.Read.All")
    res = cli("consent", "grant", "--app", "my-app", code=4)
    assert "sp create" in res.stderr
    assert graph_writes(env) and not [w for w in graph_writes(env) if "appRoleAssignedTo" in w["path"]]


def test_read_only_operator_gets_exit_3_naming_the_permission(env, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_ID", env.env["EMULATOR_READER_CLIENT_ID"])
    monkeypatch.setenv("AZURE_CLIENT_SECRET", env.env["EMULATOR_READER_CLIENT_SECRET"])
    res = cli("app", "create", "My App", code=3)
    assert "Authorization_RequestDenied" in res.stderr
    assert "Application.ReadWrite" in res.stderr
    assert [w for w in env.writes() if w["status"] < 400] == []
