"""The plan tells the truth: what `plan` prints is what `up` then does (the same objects, the same
actions, in the same order), and what `down --dry-run` prints is what `down` removes."""

from __future__ import annotations

from pathlib import Path

from cli_support import cli, cli_json, env  # noqa: F401 - fixture

EXAMPLE = Path(__file__).resolve().parent.parent / "entra_bootstrap" / "data" / "example.toml"


def _acts(changes: list[dict]) -> list[tuple[str, str, str]]:
    return [(c["kind"], c["name"], c["action"]) for c in changes if c["action"] != "unchanged"]


def test_plan_then_up_then_drift_then_down(env, tmp_path):
    path = tmp_path / "bootstrap.toml"
    path.write_text(EXAMPLE.read_text())
    plan = cli_json("plan", "-f", path)["plan"]
    up = cli_json("up", "-f", path)["changes"]
    assert _acts(plan) == _acts(up) and _acts(up)
    assert all(c["outcome"] in ("created", "updated", "deleted") for c in up if c["action"] != "unchanged")

    alone = tmp_path / "alone.toml"
    alone.write_text('[[identity]]\nname = "terraform-managed-identity"\nresource_group = "myResourceGroup"\n'
                     'location = "eastus"\n')
    cli("down", "-f", alone, "--yes", "-o", "none")
    cli("up", "-f", alone, "-o", "none")                      # recreated: drift on the VM and the credential
    drift = cli_json("plan", "-f", path)["plan"]
    repaired = cli_json("up", "-f", path)["changes"]
    assert _acts(drift) == _acts(repaired) and ("vmIdentity", "myVM", "update") in _acts(drift)

    dry = cli_json("down", "-f", path, "--dry-run")["changes"]
    down = cli_json("down", "-f", path, "--yes")["changes"]
    assert _acts(dry) == _acts(down) and _acts(down)
