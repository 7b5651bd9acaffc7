"""End to end: `app create|show|delete` and `sp create|show|delete` against the emulator."""

from __future__ import annotations

from cli_support import cli, cli_json, env, graph_writes, make_app, outcomes, twice  # noqa: F401


def test_app_create_twice_upserts_by_unique_name(env):
    first, second = twice(env, "app", "create", "My App")
    assert outcomes(first) == ["created"]
    result = first["result"]
    assert result["uniqueName"] == "my-app" and len(result["appId"]) == 36
    assert second["result"] == result
    # exactly one upsert, by uniqueName, with Prefer: create-if-missing semantics (201)
    apps = [a for a in env.state()["graph"]["applications"].values() if a.get("uniqueName") == "my-app"]
    assert len(apps) == 1 and apps[0]["displayName"] == "My App"


def test_app_create_tsv_prints_the_client_id(env):
    out = cli("app", "create", "Tsv App", "-o", "tsv").stdout.strip()
    app = cli_json("app", "show", "tsv-app")
    assert out == app["appId"]


def test_app_create_updates_display_name_and_sign_in_audience(env):
    make_app("Shop API")
    doc = cli_json("app", "create", "Shop  API", "--unique-name", "shop-api",
                   "--sign-in-audience", "azureadmultipleorgs")
    assert outcomes(doc) == ["updated"]
    change = doc["changes"][0]
    assert set(change["fields"]) == {"displayName", "signInAudience"}
    shown = cli_json("app", "show", "shop-api")
    assert shown["displayName"] == "Shop  API" and shown["signInAudience"] == "AzureADMultipleOrgs"


def test_app_show_by_client_id_object_id_and_unique_name(env):
    result = make_app()
    for ref in (result["appId"], result["objectId"], "my-app"):
        shown = cli_json("app", "show", ref)
        assert shown["id"] == result["objectId"]
    text = cli("app", "show", "my-app").stdout
    assert result["appId"] in text and "uniqueName" in text


def test_app_delete_twice(env):
    result = make_app()
    first, _ = twice(env, "app", "delete", result["appId"])
    assert outcomes(first) == ["deleted"]
    assert result["objectId"] not in env.state()["graph"]["applications"]


def test_app_not_found_is_exit_4(env):
    res = cli("app", "show", "no-such-app", code=4)
    assert "ApplicationNotFound" in res.stderr and "no-such-app" in res.stderr
    res = cli("sp", "create", "--app", "00000000-0000-0000-0000-00000000abcd", code=4)
    assert "no application" in res.stderr
    assert graph_writes(env) == []


def test_app_bad_input_is_exit_2_before_any_request(env):
    cli("app", "create", "x", "--unique-name", "-bad name", code=2)
    cli("app", "create", "x", "--sign-in-audience", "Everyone", code=2)
    res = cli("app", "create", "!!!", code=2)           # would otherwise share a fallback name
    assert "--unique-name" in res.stderr
    res = cli("app", "show", "1234abcd-12ab-12ab-12ab-12345678901", code=2)
    assert "MalformedGuid" in res.stderr
    assert env.requests() == []


def test_dry_run_writes_nothing(env):
    doc = cli_json("--dry-run", "app", "create", "Planned App")
    assert outcomes(doc) == ["would create"] and doc["dryRun"] is True
    assert env.writes() == []
    assert "dry run" in cli("app", "create", "Planned App", "--dry-run").stdout


def test_sp_create_twice_show_and_delete(env):
    result = make_app()
    first, _ = twice(env, "sp", "create", "--app", "my-app")
    assert outcomes(first) == ["created"]
    sp_id = first["result"]["objectId"]
    shown = cli_json("sp", "show", "--app", result["appId"])
    assert shown["id"] == sp_id and shown["appId"] == result["appId"]
    assert cli("sp", "create", "--app", "my-app", "-o", "tsv").stdout.strip() == sp_id
    deleted, _ = twice(env, "sp", "delete", "--app", "my-app")
    assert outcomes(deleted) == ["deleted"]
    cli("sp", "show", "--app", "my-app", code=4)


def test_global_options_before_or_after_the_command_and_from_env(env, monkeypatch):
    make_app()
    before = cli("-o", "tsv", "app", "show", "my-app").stdout
    after = cli("app", "show", "my-app", "-o", "tsv").stdout
    assert before == after and before.count("\t") == 2
    monkeypatch.setenv("ENTRA_BOOTSTRAP_OUTPUT", "json")
    assert cli("app", "show", "my-app").stdout.lstrip().startswith("{")
    # an option after the command wins over the environment
    assert cli("app", "show", "my-app", "-o", "tsv").stdout == before
    res = cli("--debug", "app", "show", "my-app")
    assert "GET https://" in res.stderr
    res = cli("app", "show", "my-app", "--debug")
    assert "GET https://" in res.stderr


def test_bad_cloud_and_bad_output_are_usage_errors(env, monkeypatch):
    cli("--cloud", "mars", "app", "show", "x", code=2)
    cli("app", "show", "x", "-o", "yaml", code=2)
    monkeypatch.delenv("ENTRA_BOOTSTRAP_GRAPH_ENDPOINT")
    res = cli("app", "show", "x", code=2)
    assert "ENTRA_BOOTSTRAP_GRAPH_ENDPOINT" in res.stderr
    assert env.requests() == []


def test_usage_errors_with_json_output_are_one_json_document(env, monkeypatch):
    """Errors found by the argument parser (missing argument, bad choice, unknown option) are,
    with -o json, the same error document as every other error: exactly one on stdout."""
    import json

    for args in (["app", "show", "-o", "json"], ["--cloud", "mars", "app", "show", "x", "-o", "json"],
                 ["-o", "json", "app", "show", "x", "--no-such-option"], ["app", "show", "--output=json"]):
        res = cli(*args, code=2)
        doc = json.loads(res.stdout)
        assert doc["error"]["exitCode"] == 2 and doc["error"]["code"] == "UsageError", doc
        assert doc["error"]["message"]
    assert "Usage:" in cli("app", "show", code=2).stderr              # table: click's usage text
    monkeypatch.setenv("ENTRA_BOOTSTRAP_OUTPUT", "json")
    assert json.loads(cli("app", "show", code=2).stdout)["error"]["exitCode"] == 2
    assert env.requests() == []


def test_whoami_shows_credential_tenant_principal_and_roles(env):
    doc = cli_json("whoami")
    assert doc["credential"] == "EnvironmentCredential"
    assert doc["tenantId"] == env.env["AZURE_TENANT_ID"]
    assert doc["appId"] == env.env["AZURE_CLIENT_ID"]
    assert "Application.ReadWrite.All" in doc["graphRoles"]
    text = cli("whoami").stdout
    assert "EnvironmentCredential" in text and "AppRoleAssignment.ReadWrite.All" in text


def test_whoami_with_a_managed_identity(env, monkeypatch):
    # the emulator's managed identity endpoint acts as myVM: give it a system-assigned identity
    vm = cli_json("identity", "enable", "--vm", "myVM", "-g", "myResourceGroup", "--system-assigned")
    principal = vm["changes"][0]["ids"]["principalId"]
    for var in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(var)
    doc = cli_json("whoami")
    assert doc["credential"] == "ManagedIdentityCredential"
    assert doc["principalId"] == principal
