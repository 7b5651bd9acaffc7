"""End to end: replication lag, authentication failures, unreachable endpoints, no secret in output."""

from __future__ import annotations

import re

from cli_support import RUNNER, cli, cli_json, env, make_identity, outcomes  # noqa: F401

from entra_bootstrap.cli import app

RG = "myResourceGroup"


def test_replication_lag_3_every_step_right_after_app_create(env):
    identity = make_identity()
    env.faults(replication_lag=3)
    created = cli_json("app", "create", "Lagging App")
    assert outcomes(created) == ["created"]
    app_id = created["result"]["appId"]
    assert outcomes(cli_json("sp", "create", "--app", app_id)) == ["created"]
    assert outcomes(cli_json("permission", "add", "--app", "lagging-app",
                             "--role", "DeviceManagementConfiguration.ReadWrite.All")) == ["created"]
    assert outcomes(cli_json("consent", "grant", "--app", "lagging-app")) == ["created"]
    assert outcomes(cli_json("owner", "add", "--app", "lagging-app", "--identity", "tf-mi", "-g", RG)) == ["created"]
    assert outcomes(cli_json("federation", "add", "--app", "lagging-app", "--managed-identity", identity["id"])) \
        == ["created"]
    # and the state is exactly one of each
    graph = env.state()["graph"]
    apps = [a for a in graph["applications"].values() if a.get("uniqueName") == "lagging-app"]
    assert len(apps) == 1
    sps = [s for s in graph["servicePrincipals"].values() if s["appId"] == app_id]
    assert len(sps) == 1
    assert len([a for a in graph["appRoleAssignments"].values() if a["principalId"] == sps[0]["id"]]) == 1
    assert graph["owners"][apps[0]["id"]] == [identity["principalId"]]
    assert len(graph["federatedIdentityCredentials"][apps[0]["id"]]) == 1


def test_bad_credentials_are_exit_3(env, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-the-secret")
    res = cli("app", "create", "My App", code=3)
    assert "AuthenticationFailed" in res.stderr and "AADSTS" in res.stderr
    assert "not-the-secret" not in res.output
    assert env.writes() == []


def test_no_credential_at_all_is_exit_3(env, monkeypatch, tmp_path):
    # no client secret; the managed identity endpoint acts as myVM, which has no identity; no az
    for var in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("PATH", str(tmp_path))
    res = cli("app", "show", "x", code=3)
    assert "NoCredential" in res.stderr and "az login" in res.stderr


def test_wrong_graph_endpoint_is_refused_by_the_token_endpoint(env, monkeypatch):
    # Entra ID issues no token for a resource it does not know: AADSTS500011, exit 3
    monkeypatch.setenv("ENTRA_BOOTSTRAP_GRAPH_ENDPOINT", "https://127.0.0.1:1/graph")
    res = cli("app", "create", "My App", code=3)
    assert "AADSTS500011" in res.stderr


def test_unreachable_graph_endpoint_is_exit_1():
    import asyncio

    import pytest

    from entra_bootstrap.clients.graph import GraphClient
    from entra_bootstrap.clients.retry import RetryPolicy
    from entra_bootstrap.clouds import Cloud
    from entra_bootstrap.errors import CliError

    class Token:            # a credential that needs no login endpoint: the Graph host is the point
        token, expires_on = "x.y.z", 2 ** 40

    class Credential:
        async def get_token(self, *scopes, **kw):
            return Token()

    cloud = Cloud("custom", "https://127.0.0.1:1", "https://127.0.0.1:1/graph", "https://127.0.0.1:1/arm",
                  "api://AzureADTokenExchange", instance_discovery=False)
    async def go():
        graph = GraphClient(cloud, Credential(), RetryPolicy(base_delay=0.01, max_time=1))
        try:
            await graph.get("/applications")
        finally:
            await graph.close()

    with pytest.raises(CliError) as err:
        asyncio.run(go())
    assert err.value.code == "EndpointUnreachable" and err.value.exit_code == 1
    assert "127.0.0.1:1" in err.value.message


def test_unreachable_login_endpoint_is_exit_1(env, monkeypatch):
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", "https://127.0.0.1:1")
    res = cli("app", "show", "my-app", code=1)
    assert "EndpointUnreachable" in res.stderr and "login endpoint" in res.stderr


def test_debug_output_and_logs_hold_no_token_or_secret(env, caplog):
    secret = env.env["AZURE_CLIENT_SECRET"]
    identity = make_identity()
    caplog.set_level("DEBUG")
    outputs = []
    for args in (["app", "create", "Secret App"], ["sp", "create", "--app", "secret-app"],
                 ["permission", "add", "--app", "secret-app", "--role", "User.Read.All"],
                 ["consent", "grant", "--app", "secret-app"],
                 ["federation", "add", "--app", "secret-app", "--managed-identity", identity["id"]],
                 ["whoami"]):
        for fmt in ("table", "json"):
            res = RUNNER.invoke(app, ["--debug", "-v", *args, "-o", fmt])
            assert res.exit_code == 0, res.output
            outputs.append(res.output)
    res = RUNNER.invoke(app, ["--debug", "app", "show", "my-app"], env={"AZURE_CLIENT_SECRET": "wrong-" + secret})
    assert res.exit_code == 3
    outputs.append(res.output)
    ours = "\n".join(outputs + [r.getMessage() for r in caplog.records if r.name.startswith("entra_bootstrap")])
    everything = ours + "\n".join(r.getMessage() for r in caplog.records)   # SDK logs too (never shown)
    assert "debug: GET https://" in ours and "debug: token for" in ours     # --debug did log requests
    assert secret not in everything
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", everything), "a JWT reached the output or a log"
    assert "Bearer" not in ours and "client_secret" not in ours


def test_throttling_is_retried(env):
    # every other request on average answers 429/503 with Retry-After: 1
    env.faults(fault_rate=0.5, fault_seed=7)
    doc = cli_json("app", "create", "Throttled App")
    assert outcomes(doc) == ["created"]
    statuses = [r["status"] for r in env.requests() if r["path"].startswith("/graph/")]
    assert {429, 503} & set(statuses), statuses          # faults happened, and were retried
    env.faults(fault_rate=0)
    assert outcomes(cli_json("app", "create", "Throttled App")) == ["unchanged"]


def test_tenant_option_and_list_outputs(env):
    tenant = env.env["AZURE_TENANT_ID"]
    assert cli_json("--tenant", tenant, "whoami")["tenantId"] == tenant
    cli("app", "create", "My App")
    cli("permission", "add", "--app", "my-app", "--role", "User.Read.All,Group.Read.All")
    tsv = cli("permission", "list", "--app", "my-app", "-o", "tsv").stdout.splitlines()
    assert sorted(line.split("\t")[2] for line in tsv) == ["Group.Read.All", "User.Read.All"]
    assert cli("owner", "list", "--app", "my-app").stdout.strip() == "no owner"
    cli("owner", "add", "--app", "my-app", code=2)
    cli("owner", "add", "--app", "my-app", "--principal", tenant, "--identity", "x", code=2)
