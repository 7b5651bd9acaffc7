"""`up` hands over to the workload, and `verify --exchange` proves the consumer path ("The last
mile"): after applying, `up` prints the outputs (tenant, app client id, identity ids) and per declared
target the exact `exec` command to run there (`-o json`: the same under `result`); the command, run
as printed on the emulator acting as myVM, gets a Graph token with the consented role; `verify
--exchange` gets the app token through WorkloadIdentityCredential reading a token file."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from importlib import resources

import pytest

from cli_support import cli, cli_json, env  # noqa: F401 - fixture

EXAMPLE = resources.files("entra_bootstrap").joinpath("data/example.toml").read_text()
ROLE = "DeviceManagementConfiguration.ReadWrite.All"
CONSUMER = "consumer path (WorkloadIdentityCredential)"

# COMMAND instead of terraform: what a consumer of exec's environment gets.
ROLES_SCRIPT = """
import os
from azure.identity import DefaultAzureCredential
from entra_bootstrap.clients.auth import decode_claims
cred = DefaultAzureCredential(disable_instance_discovery=True)
token = cred.get_token(os.environ["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"] + "/.default")
print("roles", ",".join(decode_claims(token.token).get("roles", [])))
"""

SECOND_IDENTITY = """
[[identity]]
name = "second-identity"
resource_group = "myResourceGroup"
location = "eastus"
assign_to = ["vm:myVM"]
"""


@pytest.fixture
def example(tmp_path):
    path = tmp_path / "bootstrap.toml"
    path.write_text(EXAMPLE)
    return path


def run_as_printed(command: str, *, argv: list[str]) -> subprocess.CompletedProcess:
    """The printed command with `entra-bootstrap` as this interpreter's module and the words after
    `--` replaced by ``argv`` (a python COMMAND instead of terraform)."""
    words = shlex.split(command)
    assert words[0] == "entra-bootstrap" and words[1] == "exec" and "--" in words
    cut = words.index("--")
    assert words[cut + 1:] == ["terraform", "apply"]
    return subprocess.run([sys.executable, "-m", "entra_bootstrap", *words[1:cut + 1], *argv],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))


def test_up_prints_the_outputs_and_the_command_per_target(env, example):
    out = cli("up", "-f", example).stdout
    doc = cli_json("up", "-f", example)
    result = doc["result"]
    app_id = result["apps"]["microsoft365-provider"]["appId"]
    ident = result["identities"]["terraform-managed-identity"]
    lines = out.splitlines()
    block = lines[lines.index("outputs:"):]
    assert lines[lines.index("outputs:") - 1] == ""                   # after the change lines
    assert block[1].split() == ["tenant", "id", env.env["AZURE_TENANT_ID"]]
    assert block[2].split() == ["app", "microsoft365-provider", "client", "id", app_id]
    assert block[3].split() == ["identity", "terraform-managed-identity", "client", "id", ident["clientId"]]
    assert block[4].split() == ["identity", "terraform-managed-identity", "principal", "id",
                                ident["principalId"]]
    command = f"entra-bootstrap exec --client-id {app_id} -- terraform apply"
    assert block[5:] == ["", "on vm:myVM (identity terraform-managed-identity, app microsoft365-provider), run:",
                         f"  {command}"]
    # -o json: today's keys, and the handover under result.workloads
    assert set(result) == {"tenantId", "apps", "identities", "workloads"}
    assert result["tenantId"] == env.env["AZURE_TENANT_ID"]
    assert result["workloads"] == [{"target": "vm:myVM", "identity": "terraform-managed-identity",
                                    "identityClientId": ident["clientId"], "app": "microsoft365-provider",
                                    "appId": app_id, "command": command}]
    # -o tsv stays the bare values; -o none prints nothing; a dry run hands over nothing
    tsv = cli("up", "-f", example, "-o", "tsv").stdout
    assert tsv.strip().split("\t") == [env.env["AZURE_TENANT_ID"], app_id, ident["clientId"], ident["principalId"]]
    assert cli("up", "-f", example, "-o", "none").stdout == ""
    assert "outputs:" not in cli("up", "-f", example, "--dry-run").stdout


def test_the_printed_command_run_on_the_vm_gets_the_consented_role(env, example):
    (workload,) = cli_json("up", "-f", example)["result"]["workloads"]
    run = run_as_printed(workload["command"], argv=[sys.executable, "-c", ROLES_SCRIPT])
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["roles", ROLE]


def test_a_target_holding_two_identities_gets_identity_client_id(env, example):
    example.write_text(EXAMPLE + SECOND_IDENTITY)
    result = cli_json("up", "-f", example)["result"]
    (workload,) = result["workloads"]                                 # only the federated identity
    ident = result["identities"]["terraform-managed-identity"]
    assert workload["command"] == (f"entra-bootstrap exec --client-id {workload['appId']} "
                                   f"--identity-client-id {ident['clientId']} -- terraform apply")
    out = cli("up", "-f", example).stdout
    assert f"  {workload['command']}" in out.splitlines()
    run = run_as_printed(workload["command"], argv=[sys.executable, "-c", ROLES_SCRIPT])
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["roles", ROLE]


def _checks(doc: dict) -> dict:
    return {c["check"]: c for c in doc["checks"]}


def test_verify_proves_the_consumer_path_and_removes_the_token_file(env, example, tmp_path, monkeypatch):
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))        # where the token file's directory goes
    cli("up", "-f", example)
    doc = cli_json("verify", "-f", example, "--exchange")
    assert doc["passed"] is True
    consumer = _checks(doc)[CONSUMER]
    assert consumer["passed"] and consumer["roles"] == [ROLE]
    assert "WorkloadIdentityCredential reading the token file got an app token" in consumer["detail"]
    assert list(runtime.iterdir()) == []                         # the file and its directory are gone
    table = cli("verify", "-f", example, "--exchange").stdout
    assert f"pass  {CONSUMER}: terraform-managed-identity -> microsoft365-provider" in table


def test_verify_consumer_path_fails_with_the_fix_when_the_federated_credential_is_removed(env, example):
    cli("up", "-f", example)
    cli("federation", "remove", "--app", "microsoft365-provider", "--name", "terraform-managed-identity")
    result = cli("verify", "-f", example, "--exchange", code=1)
    lines = result.stdout.splitlines()
    (line,) = [i for i, text in enumerate(lines) if text.startswith(f"FAIL  {CONSUMER}")]
    assert "AADSTS700211" in lines[line]                           # Entra's refusal, as the consumer got it
    assert lines[line + 1].strip() == (
        "fix: app microsoft365-provider (" + cli_json("app", "show", "microsoft365-provider")["appId"]
        + ") must have a federated credential trusting identity terraform-managed-identity (issuer, subject "
        f"= its principal id, audience): run `entra-bootstrap up -f {example}` (or `entra-bootstrap "
        "federation add --app microsoft365-provider --managed-identity terraform-managed-identity`); a new "
        "one can take minutes to propagate")
    doc = cli_json("verify", "-f", example, "--exchange", code=1)
    assert _checks(doc)[CONSUMER]["passed"] is False
    cli("up", "-f", example)                                        # up puts it back
    assert _checks(cli_json("verify", "-f", example, "--exchange"))[CONSUMER]["passed"] is True


# --- the handover's rules, offline ------------------------------------------------------------------

RID = "/subscriptions/s/resourceGroups/myResourceGroup/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"


def _values(held: dict | None = None, *, app: bool = True) -> dict:
    values = {"tenantId": "t", "identities": {"terraform-managed-identity": {
        "clientId": "mi-client", "principalId": "mi-principal", "id": RID + "terraform-managed-identity"}},
              "apps": {"microsoft365-provider": {"appId": "app-client"}} if app else {}}
    if held is not None:
        values["targets"] = {"vm:myvm": held}
    return values


def _handover(values: dict, cloud: str | None = None, text: str = EXAMPLE) -> list[str]:
    from entra_bootstrap.cli.bootstrap import handover
    from entra_bootstrap.spec import default_permission_lookup, parse_spec

    spec = parse_spec(text, "bootstrap.toml", *default_permission_lookup())
    commands = [w["command"] for w in handover(spec, values, cloud)]
    assert "targets" not in values                                     # not a key of result
    return commands


ONLY = {"userAssigned": [(RID + "terraform-managed-identity").lower()], "systemAssigned": False}


@pytest.mark.parametrize("held, cloud, command", [
    (ONLY, None, "entra-bootstrap exec --client-id app-client -- terraform apply"),
    (ONLY, "custom", "entra-bootstrap exec --client-id app-client -- terraform apply"),
    (ONLY, "usgov", "entra-bootstrap exec --cloud usgov --client-id app-client -- terraform apply"),
    # the target's system-assigned identity is the endpoint's default: name the user-assigned one
    (dict(ONLY, systemAssigned=True), None,
     "entra-bootstrap exec --client-id app-client --identity-client-id mi-client -- terraform apply"),
    ({"userAssigned": ONLY["userAssigned"] + [(RID + "other").lower()], "systemAssigned": False}, None,
     "entra-bootstrap exec --client-id app-client --identity-client-id mi-client -- terraform apply"),
    # what the target holds is unknown: naming the identity is always right
    (None, None, "entra-bootstrap exec --client-id app-client --identity-client-id mi-client -- terraform apply"),
])
def test_the_command_names_the_identity_when_the_target_holds_others(held, cloud, command):
    assert _handover(_values(held), cloud) == [command]


def test_no_command_without_the_app_or_without_a_federation():
    assert _handover(_values(ONLY, app=False)) == []                   # e.g. a dry run: no app yet
    unfederated = EXAMPLE.split("  [[app.federation]]")[0]
    assert _handover(_values(ONLY), text=unfederated) == []
