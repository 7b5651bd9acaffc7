"""--query: a JMESPath expression on any command's JSON document, combined with -o json / -o tsv as
in the Azure CLI; a bad expression is refused before any request."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import cli, cli_json, env  # noqa: F401 - fixture

EXAMPLE = Path(__file__).resolve().parent.parent / "entra_bootstrap" / "data" / "example.toml"


def test_query_selects_from_the_json_document_in_tsv_and_json(env, tmp_path):
    doc = cli_json("app", "create", "Query App")
    app_id = doc["result"]["appId"]
    assert cli("app", "create", "Query App", "--query", "result.appId", "-o", "tsv").stdout == f"{app_id}\n"
    assert json.loads(cli("app", "create", "Query App", "--query", "result.appId", "-o", "json").stdout) == app_id
    example = tmp_path / "bootstrap.toml"
    example.write_text(EXAMPLE.read_text())
    assert cli("plan", "-f", example, "--query", "summary.create", "-o", "tsv").stdout.strip().isdigit()
    up = cli_json("up", "-f", example)
    ids = cli("up", "-f", example, "--query", "result.apps.*.appId", "-o", "tsv").stdout.split()
    assert ids == [a["appId"] for a in up["result"]["apps"].values()]
    rows = cli("identity", "list", "-g", "myResourceGroup", "--query", "[].[name, principalId]",
               "-o", "tsv").stdout.splitlines()
    assert any(r.startswith("terraform-managed-identity\t") for r in rows)


def test_a_bad_query_is_exit_2_before_any_request(env):
    env.clear_requests()
    result = cli("app", "show", "x-app", "--query", "[[", code=2)
    assert "error[BadQuery]" in result.stderr and env.requests() == []
