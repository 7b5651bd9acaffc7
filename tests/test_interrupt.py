"""SIGTERM / SIGINT during `up`: it stops between requests, prints what was done and "run the same
command again to finish", exits 143 / 130; the same command run again converges with no duplicate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cli_support import cli, cli_json, env  # noqa: F401 - fixture


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_up_stops_it_and_the_next_up_finishes(env, tmp_path, sig):
    example = tmp_path / "bootstrap.toml"
    example.write_text((__import__("pathlib").Path(__file__).parent.parent / "entra_bootstrap" / "data"
                        / "example.toml").read_text())
    env.faults(latency_ms=150)
    proc = subprocess.Popen([sys.executable, "-m", "entra_bootstrap", "up", "-f", str(example), "-o", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    deadline = time.monotonic() + 60
    while not env.writes() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert env.writes(), "up wrote nothing before the deadline"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    doc = json.loads(out)                                   # one document: what was done, the stop
    assert doc["error"]["code"] == "Interrupted" and "run the same command again" in doc["error"]["fix"]
    assert "Traceback" not in err
    env.faults(latency_ms=0)
    cli("up", "-f", example, "-o", "none")
    env.clear_requests()
    again = cli_json("up", "-f", example)
    assert {c["outcome"] for c in again["changes"]} == {"unchanged"} and env.writes() == []
    apps = [a for a in env.state()["graph"]["applications"].values()
            if a.get("uniqueName") == "microsoft365-provider"]
    assert len(apps) == 1
