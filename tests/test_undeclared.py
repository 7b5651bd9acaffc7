"""Undeclared access on the apps the file manages (steps/undeclared.py): `plan` shows `!` lines,
`verify` fails on them unless allowed (never for a privileged Graph role), `up --prune --yes`
removes exactly them."""

from __future__ import annotations

from importlib import resources

import pytest

from cli_support import cli, cli_json, env  # noqa: F401 - fixture

EXAMPLE = resources.files("entra_bootstrap").joinpath("data/example.toml").read_text()
APP = "microsoft365-provider"
RG = "myResourceGroup"


@pytest.fixture
def example(tmp_path):
    path = tmp_path / "bootstrap.toml"
    path.write_text(EXAMPLE)
    return path


def hand_add(privileged: bool = False) -> None:
    """What nobody declared, added with the CLI's own single commands on the managed app."""
    other = cli_json("identity", "create", "other-mi", "-g", RG)["result"]
    cli("federation", "add", "--app", APP, "--name", "ci-main", "--github", "contoso/infra", "--branch", "main")
    cli("owner", "add", "--app", APP, "--identity", other["id"])
    roles = "User.Read.All" + (",Application.ReadWrite.All" if privileged else "")
    cli("permission", "add", "--app", APP, "--role", roles, "--scope", "User.Read")
    cli("consent", "grant", "--app", APP, *(("--allow-privileged",) if privileged else ()))


def undeclared(doc: dict) -> list[tuple[str, str]]:
    return sorted((c["kind"], c["name"]) for c in doc["plan"] if c["action"] == "undeclared")


def test_a_fresh_up_has_nothing_undeclared_and_verify_passes(env, example):
    cli("up", "-f", example)
    doc = cli_json("plan", "-f", example)
    assert undeclared(doc) == [] and doc["summary"]["undeclared"] == 0
    cli("verify", "-f", example)


def test_hand_added_access_shows_in_plan_and_fails_verify(env, example):
    cli("up", "-f", example)
    hand_add()
    doc = cli_json("plan", "-f", example, "--detailed-exitcode")     # not pending: exit 0
    kinds = [k for k, _ in undeclared(doc)]
    assert sorted(kinds) == ["appRoleAssignment", "federatedIdentityCredential", "oauth2PermissionGrant",
                             "owner", "permission"], doc
    assert doc["summary"]["undeclared"] == 5
    assert all(c["symbol"] == "!" and c["outcome"] == "not in file"
               for c in doc["plan"] if c["action"] == "undeclared")
    text = cli("plan", "-f", example).stdout
    assert f"! federatedIdentityCredential {APP}/ci-main  (not in file: issuer " in text
    assert "! appRoleAssignment microsoft365-provider -> Microsoft Graph: User.Read.All" in text
    assert "5 not in file." in text
    result = cli_json("verify", "-f", example, code=1)
    failed = [c for c in result["checks"] if not c["passed"]]
    assert sorted(c["kind"] for c in failed) == sorted(kinds)
    assert all(c["check"] == "not in file" and "--prune" in c["fix"] for c in failed)
    # up without --prune leaves them alone: no write
    env.clear_requests()
    cli("up", "-f", example)
    assert env.writes() == []


def test_up_prune_removes_exactly_the_undeclared(env, example):
    cli("up", "-f", example)
    hand_add()
    planned = cli_json("plan", "-f", example, "--prune")
    fic = next(c["ids"] for c in planned["plan"] if c["kind"] == "federatedIdentityCredential"
               and c["action"] == "delete")
    other_owner = next(c["ids"]["principalId"] for c in planned["plan"] if c["kind"] == "owner"
                       and c["action"] == "delete")
    assert sorted(c["kind"] for c in planned["plan"] if c["action"] == "delete") == [
        "appRoleAssignment", "federatedIdentityCredential", "oauth2PermissionGrant", "owner", "permission"]
    env.clear_requests()
    cli("up", "-f", example, "--prune", code=2)        # no terminal, no --yes
    assert env.writes() == []
    refused = cli_json("up", "-f", example, "--prune", code=2)
    assert refused["error"]["code"] == "ConfirmationRequired"
    assert env.writes() == []
    cli("up", "-f", example, "--prune", "--yes")
    graph = env.state()["graph"]
    app = next(a for a in graph["applications"].values() if a.get("uniqueName") == APP)
    writes = sorted((w["method"], w["path"].split("/graph/v1.0")[-1]) for w in env.writes())
    assert [(m, p.replace(app["id"], "APP")) for m, p in writes if "/applications/" in p] == [
        ("DELETE", f"/applications/APP/federatedIdentityCredentials/{fic['id']}"),
        ("DELETE", f"/applications/APP/owners/{other_owner}/$ref"),
        ("PATCH", "/applications/APP")], writes
    assert sorted(m for m, p in writes if "/applications/" not in p) == ["DELETE", "DELETE"], writes
    assert {f["name"] for f in graph["federatedIdentityCredentials"][app["id"]]} == {"terraform-managed-identity"}
    doc = cli_json("plan", "-f", example)
    assert undeclared(doc) == []
    assert all(c["action"] == "unchanged" for c in doc["plan"]), doc
    cli("verify", "-f", example)
    env.clear_requests()
    cli("up", "-f", example, "--prune", "--yes")
    assert env.writes() == []


def test_allow_undeclared_lets_them_pass_except_a_privileged_role(env, example):
    cli("up", "-f", example)
    hand_add(privileged=True)
    allowed = example.parent / "allowed.toml"
    allowed.write_text(EXAMPLE.replace(
        "consent = true", 'consent = true\nallow_undeclared = ["owners", "federations", "permissions", '
                          '"app_roles", "scopes", "credentials"]'))
    result = cli_json("verify", "-f", allowed, code=1)
    failed = [c for c in result["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == [f"{APP} -> Microsoft Graph: Application.ReadWrite.All"], failed
    assert "never allowed" in failed[0]["fix"]


def test_a_bad_allow_undeclared_value_is_refused_before_any_request(env, example):
    bad = example.parent / "bad.toml"
    bad.write_text(EXAMPLE.replace("consent = true", 'consent = true\nallow_undeclared = ["secrets"]'))
    env.clear_requests()
    result = cli("plan", "-f", bad, code=2)
    assert "InvalidBootstrapFile" in result.output and "allow_undeclared" in result.output and "'secrets' is not a category" in result.output
    assert env.writes() == []


async def _add_password(emu, unique_name: str) -> tuple[dict, list]:
    """addPassword through the real msgraph request adapter; then the app as read back."""
    from azure.identity.aio import ClientSecretCredential
    from msgraph import GraphServiceClient
    from msgraph.generated.applications.item.add_password.add_password_post_request_body import \
        AddPasswordPostRequestBody
    from msgraph.generated.models.password_credential import PasswordCredential

    graph = emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"]
    async with ClientSecretCredential(emu.env["AZURE_TENANT_ID"], emu.env["AZURE_CLIENT_ID"],
                                      emu.env["AZURE_CLIENT_SECRET"], authority=emu.url,
                                      disable_instance_discovery=True, connection_verify=emu.ca) as cred:
        client = GraphServiceClient(cred, scopes=[f"{graph}/.default"])
        client.request_adapter.base_url = f"{graph}/v1.0"
        app = await client.applications_with_unique_name(unique_name).get()
        made = await client.applications.by_application_id(app.id).add_password.post(
            AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="hand-made")))
        again = await client.applications.by_application_id(app.id).get()
        return {"keyId": str(made.key_id), "secretText": made.secret_text, "hint": made.hint}, \
            [(str(c.key_id), c.secret_text, c.hint) for c in again.password_credentials]


def test_a_hand_added_password_shows_fails_verify_and_is_pruned(env, example):
    import asyncio

    cli("up", "-f", example)
    made, read_back = asyncio.run(_add_password(env, APP))
    assert made["secretText"] and made["hint"] == made["secretText"][:3]
    assert read_back == [(made["keyId"], None, made["hint"])]       # the secret is never shown again
    doc = cli_json("plan", "-f", example)
    assert undeclared(doc) == [("passwordCredential", f"{APP}/hand-made")]
    result = cli("verify", "-f", example, code=1)
    assert "not in file" in result.stdout and "passwordCredential" in result.stdout
    env.clear_requests()
    out = cli("up", "-f", example, "--prune", "--yes").output
    assert made["secretText"] not in out
    assert [(w["method"], w["path"].rsplit("/", 1)[-1]) for w in env.writes()] == [("POST", "removePassword")]
    state = env.state()["graph"]["applications"]
    assert all(not a.get("passwordCredentials") for a in state.values())
    cli("verify", "-f", example)
