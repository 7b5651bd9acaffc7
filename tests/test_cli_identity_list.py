"""`identity list -g RG` and `identity delete NAME -g RG` (twice: the second is unchanged, no write)."""

from __future__ import annotations

import json

from cli_support import cli, cli_json, env, twice  # noqa: F401 - fixture

RG = "myResourceGroup"


def test_list_then_delete_twice(env):
    created = {}
    for name in ("list-b", "list-a"):
        created[name] = cli_json("identity", "create", name, "-g", RG)["result"]
    rows = json.loads(cli("identity", "list", "-g", RG, "-o", "json").stdout)
    mine = [r for r in rows if r["name"].startswith("list-")]
    assert [r["name"] for r in mine] == ["list-a", "list-b"]               # sorted by name
    assert {r["name"]: r["principalId"] for r in mine} == {n: c["principalId"] for n, c in created.items()}
    tsv = cli("identity", "list", "-g", RG, "-o", "tsv").stdout.splitlines()
    assert f"list-a\t{created['list-a']['principalId']}\t{created['list-a']['clientId']}" in tsv
    first, second = twice(env, "identity", "delete", "list-a", "-g", RG)
    assert first["changes"][0]["outcome"] == "deleted"
    rows = json.loads(cli("identity", "list", "-g", RG, "-o", "json").stdout)
    assert "list-a" not in {r["name"] for r in rows} and "list-b" in {r["name"] for r in rows}


def test_bad_input_and_a_missing_group(env):
    env.clear_requests()
    bad = cli("identity", "delete", "x", "-g", RG, code=2)
    assert "error[InvalidResourceName]" in bad.stderr and env.requests() == []
    missing = cli("identity", "list", "-g", "noSuchGroup", code=4)
    assert "error[ResourceGroupNotFound]" in missing.stderr
