"""Helpers of the CLI end-to-end tests: run the CLI in-process against the ``emu`` fixture.

``cli(...)`` runs ``entra-bootstrap`` with typer's CliRunner and checks the exit code;
``twice(emu, ...)`` runs a command, then runs it again and asserts the second run reported only
``unchanged`` and sent no write (from the emulator's request log).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from entra_bootstrap.cli import app

RUNNER = CliRunner()


def cli(*args, code: int = 0):
    result = RUNNER.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, (
        f"exit {result.exit_code} (wanted {code}) for {args}\nstdout: {result.stdout}\n"
        f"stderr: {result.stderr}\nexception: {result.exception!r}")
    assert "Traceback" not in result.output
    return result


def cli_json(*args, code: int = 0) -> dict:
    return json.loads(cli(*args, "-o", "json", code=code).stdout)


def outcomes(doc: dict) -> list[str]:
    return [c["outcome"] for c in doc["changes"]]


def twice(emu, *args) -> tuple[dict, dict]:
    """Run, then run again: the second run must change nothing and write nothing."""
    first = cli_json(*args)
    emu.clear_requests()
    second = cli_json(*args)
    assert set(outcomes(second)) == {"unchanged"}, second
    assert emu.writes() == [], emu.writes()
    return first, second


def graph_writes(emu) -> list[dict]:
    return [w for w in emu.writes() if w["path"].startswith("/graph/")]


@pytest.fixture
def env(emu, monkeypatch):
    """The emulator with short retry delays (replication lag is by count, not time)."""
    monkeypatch.setenv("ENTRA_BOOTSTRAP_RETRY_BASE_DELAY", "0.01")
    monkeypatch.setenv("ENTRA_BOOTSTRAP_RETRY_MAX_DELAY", "0.05")
    monkeypatch.setenv("ENTRA_BOOTSTRAP_RETRY_MAX_TIME", "10")
    return emu


def make_app(name: str = "My App") -> dict:
    return cli_json("app", "create", name)["result"]


def make_identity(name: str = "tf-mi") -> dict:
    return cli_json("identity", "create", name, "-g", "myResourceGroup")["result"]
