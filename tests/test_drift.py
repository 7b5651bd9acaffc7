"""Drift the plan shows and up repairs: an attachment whose identity was deleted, or deleted and
created again under the same name (a new principal id), gives no token on the resource. The plan
says `~ re-attach (identity recreated / deleted)`, `up` detaches and attaches it again, and
`verify --exchange` passes after (and fails before) the repair."""

from __future__ import annotations

import json

import pytest

from cli_support import cli, cli_json, env  # noqa: F401 - fixture

RG = "myResourceGroup"
KINDS = {"vm:myVM": ("vmIdentity", "/virtualmachines/myvm"),
         "vmss:myScaleSet": ("vmssIdentity", "/virtualmachinescalesets/myscaleset"),
         "container-group:myContainerGroup": ("containerGroupIdentity", "/containergroups/mycontainergroup")}


def _files(tmp_path, target: str):
    full = tmp_path / "full.toml"
    full.write_text(f'[[identity]]\nname = "drift-identity"\nresource_group = "{RG}"\nassign_to = ["{target}"]\n\n'
                    '[[app]]\nunique_name = "drift-app"\nconsent = true\n'
                    '[[app.permission]]\nroles = ["User.Read.All"]\n'
                    '[[app.federation]]\nname = "drift-fic"\nmanaged_identity = "drift-identity"\n')
    alone = tmp_path / "alone.toml"
    alone.write_text(f'[[identity]]\nname = "drift-identity"\nresource_group = "{RG}"\n')
    return full, alone


def _held(env, suffix: str) -> str:
    resource = next(v for k, v in env.state()["arm"]["resources"].items() if k.endswith(suffix))
    [(rid, value)] = resource["identity"]["userAssignedIdentities"].items()
    return value["principalId"]


def _identity_principal(env) -> str:
    return next(v for k, v in env.state()["arm"]["resources"].items()
                if k.endswith("/drift-identity"))["properties"]["principalId"]


def _attachment(doc: dict, kind: str) -> dict:
    return next(c for c in doc["plan"] if c["kind"] == kind)


@pytest.mark.parametrize("target", sorted(KINDS))
def test_a_deleted_then_recreated_identity_is_planned_and_reattached(env, tmp_path, target):
    kind, suffix = KINDS[target]
    full, alone = _files(tmp_path, target)
    cli("up", "-f", full, "--yes", "-o", "none")
    old = _held(env, suffix)
    cli("down", "-f", alone, "--yes", "-o", "none")               # the identity is deleted

    gone = _attachment(cli_json("plan", "-f", full), kind)
    assert gone["action"] == "update" and "identity deleted" in gone["reason"]
    cli("plan", "-f", full, "--detailed-exitcode", "-o", "none", code=5)

    cli("up", "-f", alone, "-o", "none")                          # created again: a new principal
    new = _identity_principal(env)
    assert new != old and _held(env, suffix) == old
    doc = cli_json("plan", "-f", full)
    drift = _attachment(doc, kind)
    assert drift["action"] == "update" and "identity recreated" in drift["reason"] and old in drift["reason"]
    cli("plan", "-f", full, "--detailed-exitcode", "-o", "none", code=5)
    verify = json.loads(cli("verify", "-f", full, "-o", "json", code=1).stdout)
    assert any("identity recreated" in c["detail"] for c in verify["checks"] if not c["passed"])

    up = cli_json("up", "-f", full, "--yes")
    assert (kind, "updated") in {(c["kind"], c["outcome"]) for c in up["changes"]}
    assert _held(env, suffix) == new
    env.clear_requests()
    again = cli_json("up", "-f", full, "--yes")
    assert {c["outcome"] for c in again["changes"]} == {"unchanged"} and env.writes() == []


def test_verify_exchange_fails_before_the_repair_and_passes_after(env, tmp_path):
    full, alone = _files(tmp_path, "vm:myVM")
    cli("up", "-f", full, "-o", "none")
    cli("verify", "-f", full, "--exchange", "-o", "none")
    cli("down", "-f", alone, "--yes", "-o", "none")
    cli("up", "-f", alone, "-o", "none")
    cli("verify", "-f", full, "--exchange", "-o", "none", code=1)
    cli("up", "-f", full, "-o", "none")
    checks = json.loads(cli("verify", "-f", full, "--exchange", "-o", "json").stdout)["checks"]
    assert all(c["passed"] for c in checks) and any(c["check"] == "token exchange" for c in checks)
