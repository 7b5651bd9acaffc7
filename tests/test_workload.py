"""`exec`, `token`, `env` on the workload: end to end against the emulator acting as myVM's managed
identity endpoint (env.sh's AZURE_POD_IDENTITY_AUTHORITY_HOST), after `up -f` set up the identity,
the app, its consented Graph role and the federated credential."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import hcl2
import pytest

from cli_support import cli, cli_json, env  # noqa: F401 - fixture
from entra_bootstrap.clients.auth import decode_claims
from entra_bootstrap.clouds import get_cloud
from entra_bootstrap.errors import CliError
from entra_bootstrap.workload import IdentityToken, RefreshSettings, Refresher, _exchange_error

ROLE = "DeviceManagementConfiguration.ReadWrite.All"
TOML = f"""
[[identity]]
name = "terraform-managed-identity"
resource_group = "myResourceGroup"
location = "eastus"
assign_to = ["vm:myVM"]

[[app]]
unique_name = "microsoft365-provider"
display_name = "Microsoft365Provider"
consent = true

  [[app.permission]]
  api = "Microsoft Graph"
  roles = ["{ROLE}"]

  [[app.federation]]
  name = "terraform-managed-identity"
  managed_identity = "terraform-managed-identity"
"""

ROLES_SCRIPT = """
import os, shutil, stat, sys
from azure.identity import DefaultAzureCredential
from entra_bootstrap.clients.auth import decode_claims
path = os.environ["AZURE_FEDERATED_TOKEN_FILE"]
shutil.copyfile(path, sys.argv[1])          # what exec wrote, for the test to compare
print("file", path, oct(stat.S_IMODE(os.stat(path).st_mode)), oct(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)))
cred = DefaultAzureCredential(disable_instance_discovery=True)
token = cred.get_token(os.environ["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"] + "/.default")
print("roles", ",".join(decode_claims(token.token).get("roles", [])))
"""

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
APP = "5bdabe8f-9871-41f2-a7fc-1fff103b921b"


@pytest.fixture
def world(env, tmp_path):
    """The app, identity, FIC and consent of TOML, made by `up -f`: (app client id, identity client id)."""
    path = tmp_path / "bootstrap.toml"
    path.write_text(TOML)
    result = cli_json("up", "-f", path, "--yes")["result"]
    env.clear_requests()
    return (result["apps"]["microsoft365-provider"]["appId"],
            result["identities"]["terraform-managed-identity"]["clientId"])


def eb(*args, timeout: float = 60, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    environ = dict(os.environ, **(extra_env or {}))
    return subprocess.run([sys.executable, "-m", "entra_bootstrap", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=environ)


def eb_popen(*args, extra_env: dict | None = None) -> subprocess.Popen:
    environ = dict(os.environ, **(extra_env or {}))
    return subprocess.Popen([sys.executable, "-m", "entra_bootstrap", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=environ)


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


# --- exec ----------------------------------------------------------------------------------------

def test_exec_gives_default_azure_credential_the_apps_consented_role(world, tmp_path):
    app_id, _ = world
    copy = tmp_path / "seen-token"
    run = eb("exec", "--client-id", app_id, "--debug", "--", sys.executable, "-c", ROLES_SCRIPT, copy)
    assert run.returncode == 0, run.stderr
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines())
    assert lines["roles"] == ROLE
    path, file_mode, dir_mode = lines["file"].split()
    assert (file_mode, dir_mode) == ("0o600", "0o700")
    assert not Path(path).exists() and not Path(path).parent.exists()      # removed after exit
    token = copy.read_text()
    claims = decode_claims(token)
    assert claims["aud"] == "api://AzureADTokenExchange" and claims["tid"] == TENANT
    assert token not in run.stdout and token not in run.stderr             # never printed, even --debug
    assert "Traceback" not in run.stderr and "GET " in run.stderr          # --debug did log requests


def test_exec_returns_the_commands_exit_code(world):
    app_id, _ = world
    assert eb("exec", "--client-id", app_id, "--", "sh", "-c", "exit 7").returncode == 7
    assert eb("exec", "--client-id", app_id, "--no-check", "sh", "-c", "exit 0").returncode == 0
    # options end at COMMAND's first word: its own options are not exec's, with or without `--`
    mixed = eb("exec", "--client-id", app_id, "sh", "-c", 'echo "$0"; exit 3', "-v")
    assert (mixed.returncode, mixed.stdout.strip()) == (3, "-v")
    missing = eb("exec", "--client-id", app_id, "--", "no-such-command-anywhere")
    assert missing.returncode == 127 and "error[CommandNotFound]" in missing.stderr


def test_exec_sets_every_consumer_and_removes_overrides(world, tmp_path):
    app_id, _ = world
    out = tmp_path / "env.json"
    script = f"import json, os; json.dump(dict(os.environ), open({str(out)!r}, 'w'))"
    run = eb("exec", "--client-id", app_id, "--", sys.executable, "-c", script,
             extra_env={"ARM_CLIENT_SECRET": "s", "M365_MANAGED_IDENTITY_ID": "x", "ARM_USE_MSI": "true",
                        "M365_CLIENT_SECRET": "s"})
    assert run.returncode == 0, run.stderr
    seen = json.loads(out.read_text())
    token_file = seen["AZURE_FEDERATED_TOKEN_FILE"]
    assert seen["AZURE_CLIENT_ID"] == seen["ARM_CLIENT_ID"] == seen["M365_CLIENT_ID"] == app_id
    assert seen["AZURE_TENANT_ID"] == seen["ARM_TENANT_ID"] == seen["M365_TENANT_ID"] == TENANT
    assert seen["ARM_OIDC_TOKEN_FILE_PATH"] == token_file and seen["ARM_USE_OIDC"] == "true"
    assert seen["M365_AUTH_METHOD"] == "workload_identity"
    assert seen["AZURE_AUTHORITY_HOST"] == os.environ["AZURE_AUTHORITY_HOST"]
    for gone in ("AZURE_CLIENT_SECRET", "ARM_CLIENT_SECRET", "M365_MANAGED_IDENTITY_ID", "ARM_USE_MSI",
                 "M365_CLIENT_SECRET"):
        assert gone not in seen


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_to_exec_reaches_the_command_and_its_code_comes_back(world, tmp_path, sig):
    """SIGINT too: no terminal here, so it did not reach COMMAND by itself."""
    app_id, _ = world
    ready, marker = tmp_path / "ready", tmp_path / "marker"
    name = sig.name[3:]
    script = (f'trap \'echo trapped > "{marker}"; exit 42\' {name}; echo "$AZURE_FEDERATED_TOKEN_FILE" > "{ready}"; '
              'while :; do sleep 0.1; done')
    proc = eb_popen("exec", "--client-id", app_id, "--", "sh", "-c", script)
    try:
        wait_for(ready)
        token_file = Path(ready.read_text().strip())
        assert token_file.exists()
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 42, proc.stderr.read()
    assert marker.read_text().strip() == "trapped"
    assert not token_file.exists() and not token_file.parent.exists()


def test_the_refresher_rewrites_the_file_before_expiry_during_a_long_command(world, tmp_path):
    """NOTE: with the emulator's usual ~24 h managed identity tokens, a refresh margin above the
    lifetime makes every check find the token due and fetch a new one (the test below uses the
    emulator's token-lifetime knob and the default margin instead)."""
    app_id, _ = world
    seen = tmp_path / "seen"
    script = f"""
import json, os, time
path, tokens = os.environ["AZURE_FEDERATED_TOKEN_FILE"], []
deadline = time.monotonic() + 20
while time.monotonic() < deadline and len(set(tokens)) < 3:
    tokens.append(open(path).read())
    time.sleep(0.1)
json.dump(tokens, open({str(seen)!r}, "w"))
"""
    run = eb("exec", "--client-id", app_id, "-v", "--", sys.executable, "-c", script,
             extra_env={"ENTRA_BOOTSTRAP_TOKEN_REFRESH_MARGIN": "1000000",
                        "ENTRA_BOOTSTRAP_TOKEN_REFRESH_INTERVAL": "0.2"})
    assert run.returncode == 0, run.stderr
    tokens = list(dict.fromkeys(json.loads(seen.read_text())))
    assert len(tokens) >= 3, "the file was not rewritten"
    claims = [decode_claims(t) for t in tokens]
    assert all(c["aud"] == "api://AzureADTokenExchange" for c in claims)
    assert len({c["uti"] for c in claims}) == len(claims)                 # really new tokens
    assert [c["iat"] for c in claims] == sorted(c["iat"] for c in claims)
    assert "refreshed" in run.stderr
    for token in tokens:
        assert token not in run.stderr and token not in run.stdout


def test_with_a_short_token_lifetime_the_file_is_refreshed_before_expiry(world, env, tmp_path):
    """The issue's words: "with a short token lifetime (an emulator knob) the file is refreshed before
    expiry during a long COMMAND". A 6-second lifetime and workload.py's default margin (at most half
    the lifetime: 3 s), checked every 0.2 s; COMMAND reads the file for ~10 s and notes when it first
    saw each token. Asserted: only the tokens' exp/iat against the moment the rewrite was seen."""
    app_id, _ = world
    env.faults(token_lifetime_s=6)
    seen = tmp_path / "seen"
    script = f"""
import json, os, time
path, first_seen = os.environ["AZURE_FEDERATED_TOKEN_FILE"], {{}}
end = time.time() + 10
while time.time() < end:
    token = open(path).read()
    first_seen.setdefault(token, time.time())
    time.sleep(0.05)
json.dump(sorted(first_seen.items(), key=lambda kv: kv[1]), open({str(seen)!r}, "w"))
"""
    run = eb("exec", "--client-id", app_id, "-v", "--", sys.executable, "-c", script,
             extra_env={"ENTRA_BOOTSTRAP_TOKEN_REFRESH_INTERVAL": "0.2"})
    assert run.returncode == 0, run.stderr
    tokens = json.loads(seen.read_text())
    assert len(tokens) >= 2, "the file was never rewritten"
    claims = [(decode_claims(token), at) for token, at in tokens]
    assert all(c["exp"] - c["iat"] == 6 for c, _ in claims)               # the knob's lifetime
    for (old, _), (new, rewritten_at) in zip(claims, claims[1:]):
        assert rewritten_at < old["exp"], "the file was rewritten only after the old token expired"
        assert new["iat"] > old["iat"] and new["exp"] > old["exp"] and new["uti"] != old["uti"]
    assert "refreshed" in run.stderr
    for token, _ in tokens:
        assert token not in run.stderr and token not in run.stdout


def test_refresh_settings_are_validated_before_anything_is_fetched(world, env):
    app_id, _ = world
    run = eb("exec", "--client-id", app_id, "--", "true", extra_env={"ENTRA_BOOTSTRAP_TOKEN_REFRESH_MARGIN": "soon"})
    assert run.returncode == 2 and "error[BadRefreshSetting]" in run.stderr
    assert env.requests() == []


def test_refresh_margin_default_and_due():
    default = RefreshSettings.from_env({})
    assert default.interval == 60 and default.margin_for(86399) == 900 and default.margin_for(600) == 300
    custom = RefreshSettings.from_env({"ENTRA_BOOTSTRAP_TOKEN_REFRESH_MARGIN": "120",
                                       "ENTRA_BOOTSTRAP_TOKEN_REFRESH_INTERVAL": "5"})
    assert (custom.margin_for(86399), custom.interval) == (120, 5)
    now = time.time()
    refresher = Refresher(lambda: None, Path("/nonexistent"), IdentityToken("t", int(now) + 3600, int(now) - 60),
                          custom)
    assert not refresher.due(now) and refresher.due(now + 3600 - 119)
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(CliError) as exc:
            RefreshSettings.from_env({"ENTRA_BOOTSTRAP_TOKEN_REFRESH_INTERVAL": bad})
        assert exc.value.code == "BadRefreshSetting" and exc.value.exit_code == 2


# --- token ---------------------------------------------------------------------------------------

def test_token_writes_the_file_once(world, tmp_path):
    app_id, mi_id = world
    path = tmp_path / "run" / "token"
    doc = cli_json("token", "--client-id", app_id, "--file", path)
    path.chmod(0o644)                                   # a file left readable is replaced by a 0600 one
    doc = cli_json("token", "--client-id", app_id, "--file", path)
    assert doc["file"] == str(path) and doc["tenantId"] == TENANT and doc["identityClientId"] == mi_id
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    token = path.read_text()
    assert decode_claims(token)["aud"] == "api://AzureADTokenExchange"
    result = cli("token", "--client-id", app_id, "--file", path, "--debug")
    assert path.read_text() != token and path.read_text() not in result.output


def test_token_refresh_keeps_the_file_fresh_until_sigterm(world, tmp_path):
    app_id, _ = world
    path = tmp_path / "token"
    proc = eb_popen("token", "--client-id", app_id, "--file", path, "--refresh",
                    extra_env={"ENTRA_BOOTSTRAP_TOKEN_REFRESH_MARGIN": "1000000",
                               "ENTRA_BOOTSTRAP_TOKEN_REFRESH_INTERVAL": "0.2"})
    try:
        wait_for(path)
        first = path.read_text()
        deadline = time.monotonic() + 20
        while path.read_text() == first:
            assert time.monotonic() < deadline, "never refreshed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "refreshed" in err and first not in out + err and path.exists()


# --- errors --------------------------------------------------------------------------------------

def test_no_metadata_endpoint_is_explained_with_the_fix(emu, monkeypatch):
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "https://127.0.0.1:1")
    monkeypatch.setenv("ENTRA_BOOTSTRAP_RETRY_BASE_DELAY", "0.01")
    result = cli("exec", "--client-id", APP, "--", "true", code=1)
    assert "error[NoMetadataEndpoint]" in result.stderr and "fix:" in result.stderr
    assert "NO_PROXY" in result.stderr and "Traceback" not in result.stderr
    doc = json.loads(cli("token", "--client-id", APP, "--file", "/tmp/x-never", "-o", "json", code=1).stdout)
    assert doc["error"]["code"] == "NoMetadataEndpoint" and doc["error"]["exitCode"] == 1
    assert not Path("/tmp/x-never").exists()


@pytest.mark.parametrize("args, code", [
    (["exec", "--", "true"], "MissingOption"),
    (["exec", "--client-id", "not-a-guid", "--", "true"], "MalformedGuid"),
    (["exec", "--client-id", APP, "--identity-client-id", "1234", "--", "true"], "MalformedGuid"),
    (["exec", "--client-id", APP], "NoCommand"),
    (["exec", "--client-id", APP, "--"], "NoCommand"),
    (["exec", "--client-id", APP, "--tenant", "not a tenant", "--", "true"], "BadTenant"),
    (["token", "--client-id", APP], "MissingOption"),
    (["token", "--file", "/tmp/t"], "MissingOption"),
    (["env", "--client-id", APP, "--for", "az"], "MissingOption"),
    (["env", "--client-id", APP, "--token-file", "/nonexistent/t", "--for", "az"], "NoTenant"),
])
def test_bad_input_is_exit_2_with_a_code_before_anything_is_fetched(emu, args, code):
    result = cli(*args, code=2)
    assert f"error[{code}]" in result.stderr
    assert emu.requests() == []


def test_identity_not_attached(world):
    app_id, _ = world
    result = cli("exec", "--client-id", app_id, "--identity-client-id", "00000000-0000-4000-8000-000000000001",
                 "--", "true", code=4)
    assert "error[IdentityNotAttached]" in result.stderr and "identity enable" in result.stderr


def test_several_identities_need_identity_client_id_and_the_wrong_one_is_700213(world):
    app_id, mi_id = world
    other = cli_json("identity", "create", "second-identity", "-g", "myResourceGroup")["result"]
    cli("identity", "enable", "--vm", "myVM", "-g", "myResourceGroup", "--user-assigned", "second-identity")
    result = cli("exec", "--client-id", app_id, "--", "true", code=2)
    assert "error[IdentityAmbiguous]" in result.stderr and "--identity-client-id" in result.stderr
    cli("exec", "--client-id", app_id, "--identity-client-id", mi_id, "--", "true")
    refused = cli("exec", "--client-id", app_id, "--identity-client-id", other["clientId"], "--", "true", code=3)
    assert "error[AADSTS700213]" in refused.stderr and "principal id" in refused.stderr


@pytest.mark.parametrize("code, words", [
    (700211, "issuer must be https://login.microsoftonline.com/" + TENANT + "/v2.0"),
    (700213, "subject must be the identity's principal id"),
    (7002138, "only case-insensitively"),
    (70021, "propagate"),
])
def test_exchange_refusals_say_what_they_mean_for_this_setup(code, words):
    cloud = get_cloud("public", {})
    payload = base64.urlsafe_b64encode(json.dumps({"sub": "abc", "tid": TENANT}).encode()).decode().rstrip("=")
    fake = f"e30.{payload}.sig"
    err = _exchange_error(cloud, TENANT, APP, IdentityToken(fake, 0, 0), code, f"AADSTS{code}: refused", 400)
    assert err.code == f"AADSTS{code}" and err.exit_code == 3
    assert words in err.message + " " + err.fix


# --- env -----------------------------------------------------------------------------------------

EXPECTED = {
    "azure-identity": {"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST"},
    "terraform-azurerm": {"ARM_USE_OIDC", "ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_OIDC_TOKEN_FILE_PATH"},
    "terraform-azuread": {"ARM_USE_OIDC", "ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_OIDC_TOKEN_FILE_PATH"},
    "terraform-microsoft365": {"M365_AUTH_METHOD", "M365_CLIENT_ID", "M365_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
                               "M365_CLOUD"},
}


@pytest.fixture
def public(monkeypatch):
    for key in [k for k in os.environ if k.startswith(("AZURE_", "ARM_", "M365_", "ENTRA_BOOTSTRAP_"))]:
        monkeypatch.delenv(key, raising=False)


def parse(text: str, shell: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if shell == "sh":
            assert line.startswith("export "), line
            key, value = line[len("export "):].split("=", 1)
            assert value[0] == value[-1] == "'"
        elif shell == "pwsh":
            assert line.startswith("$env:"), line
            key, value = line[len("$env:"):].split(" = ", 1)
            assert value[0] == value[-1] == "'"
        else:
            key, value = line.split("=", 1)
        out[key] = value.strip("'")
    return out


@pytest.mark.parametrize("shell", ["sh", "pwsh", "dotenv"])
@pytest.mark.parametrize("consumer", sorted(EXPECTED))
def test_env_prints_exactly_the_consumers_variables(public, tmp_path, consumer, shell):
    path = tmp_path / "token"
    result = cli("env", "--client-id", APP, "--tenant", TENANT, "--token-file", path, "--for", consumer,
                 "--shell", shell)
    values = parse(result.stdout, shell)
    assert set(values) == EXPECTED[consumer]
    ids = {k: v for k, v in values.items() if k.endswith("CLIENT_ID")}
    assert set(ids.values()) == {APP}
    assert {v for k, v in values.items() if k.endswith("TENANT_ID")} == {TENANT}
    assert {v for k, v in values.items() if "TOKEN_FILE" in k} == {str(path)}
    if consumer.startswith("terraform-az"):
        assert values["ARM_USE_OIDC"] == "true"
    if consumer == "terraform-microsoft365":
        assert values["M365_AUTH_METHOD"] == "workload_identity" and values["M365_CLOUD"] == "public"
    if consumer == "azure-identity":
        assert values["AZURE_AUTHORITY_HOST"] == "https://login.microsoftonline.com"


def test_env_reads_the_tenant_from_the_token_file_and_unsets_overrides(world, tmp_path, monkeypatch):
    app_id, _ = world
    path = tmp_path / "token"
    cli("token", "--client-id", app_id, "--file", path)
    monkeypatch.setenv("ARM_CLIENT_SECRET", "do-not-print-me")
    sh = cli("env", "--client-id", app_id, "--token-file", path, "--for", "terraform-azurerm").stdout
    assert sh.splitlines()[0] == "unset ARM_CLIENT_SECRET" and "do-not-print-me" not in sh
    assert f"export ARM_TENANT_ID='{TENANT}'" in sh
    pwsh = cli("env", "--client-id", app_id, "--token-file", path, "--for", "terraform-azurerm", "--shell", "pwsh")
    assert "Remove-Item Env:ARM_CLIENT_SECRET" in pwsh.stdout
    assert path.read_text() not in sh + pwsh.stdout


@pytest.mark.parametrize("consumer, provider", [("terraform-microsoft365", "microsoft365"),
                                                ("terraform-azurerm", "azurerm"), ("terraform-azuread", "azuread")])
def test_env_hcl_is_a_provider_block_that_parses(public, tmp_path, consumer, provider):
    path = tmp_path / "token"
    text = cli("env", "--client-id", APP, "--tenant", TENANT, "--token-file", path, "--for", consumer,
               "--shell", "hcl").stdout
    doc = hcl2.loads(text)
    (block,) = [v for b in doc["provider"] for k, v in b.items() if _unquote(k) == provider]
    block = {k: _unquote(v) for k, v in block.items() if not k.startswith("__")}
    if provider == "microsoft365":
        assert block["auth_method"] == "workload_identity" and block["tenant_id"] == TENANT
        assert block["cloud"] == "public"
        options = {k: _unquote(v) for k, v in block["entra_id_options"].items() if not k.startswith("__")}
        assert options == {"client_id": APP, "federated_token_file_path": str(path)}
    else:
        assert block["use_oidc"] in (True, "true") and block["client_id"] == APP and block["tenant_id"] == TENANT
        assert block["oidc_token_file_path"] == str(path)


def _unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def test_env_for_az_prints_a_command_that_reads_the_file(public, tmp_path):
    path = tmp_path / "token"
    sh = cli("env", "--client-id", APP, "--tenant", TENANT, "--token-file", path, "--for", "az").stdout.strip()
    assert sh == (f"az login --service-principal -u {APP} --tenant {TENANT} "
                  f"--federated-token \"$(cat '{path}')\" --allow-no-subscriptions")
    pwsh = cli("env", "--client-id", APP, "--tenant", TENANT, "--token-file", path, "--for", "az",
               "--shell", "pwsh").stdout
    assert f"(Get-Content -Raw '{path}')" in pwsh
    for shell in ("dotenv", "hcl"):
        result = cli("env", "--client-id", APP, "--tenant", TENANT, "--token-file", path, "--for", "az",
                     "--shell", shell, code=2)
        assert "error[BadShell]" in result.stderr
    result = cli("env", "--client-id", APP, "--tenant", TENANT, "--token-file", path, "--for", "azure-identity",
                 "--shell", "hcl", code=2)
    assert "error[BadShell]" in result.stderr


def test_env_json_and_other_clouds(public, tmp_path):
    path = tmp_path / "token"
    doc = cli_json("env", "--client-id", APP, "--tenant", TENANT, "--token-file", path, "--for",
                   "terraform-azurerm", "--cloud", "usgov", "--subscription", "0b1f6471-1bf0-4dda-aec3-cb9272f09590")
    assert doc["variables"]["ARM_ENVIRONMENT"] == "usgovernment"
    assert doc["variables"]["ARM_SUBSCRIPTION_ID"] == "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
    china = cli_json("env", "--client-id", APP, "--tenant", TENANT, "--token-file", path, "--for",
                     "azure-identity", "--cloud", "china")
    assert china["variables"]["AZURE_AUTHORITY_HOST"] == "https://login.chinacloudapi.cn"
