"""Shared fixtures: one real emulator process per test worker, reset before every test.

``emulator`` (session): starts ``python -m entra_bootstrap emulator --port 0`` and waits for its
``ready`` line. ``emu`` (function): resets the seeded world, clears the request log and faults,
and returns the same ``Emulator`` handle. End-to-end tests talk to it through the real SDKs.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Emulator:
    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen

    @property
    def ca(self) -> str:
        return str(self.data_dir / "ca.pem")

    def control(self, method: str, path: str, body: dict | None = None):
        ctx = ssl.create_default_context(cafile=self.ca)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def requests(self) -> list[dict]:
        return self.control("GET", "/_emulator/requests")

    def writes(self) -> list[dict]:
        """Logged Graph/ARM writes: token requests and read-only POST actions (getByIds) are not."""
        from entra_bootstrap.emulator.app import is_write

        return [r for r in self.requests() if is_write(r["method"], r["path"])]

    def clear_requests(self) -> None:
        self.control("POST", "/_emulator/requests/clear")

    def state(self) -> dict:
        return self.control("GET", "/_emulator/state")

    def reset(self) -> None:
        self.control("POST", "/_emulator/reset")

    def faults(self, **kw) -> None:
        self.control("POST", "/_emulator/faults", kw)


def start_emulator(data_dir: Path, *extra: str) -> Emulator:
    env = dict(os.environ)
    env.pop("REQUESTS_CA_BUNDLE", None)
    proc = subprocess.Popen([sys.executable, "-m", "entra_bootstrap", "emulator", "--port", "0",
                             "--data-dir", str(data_dir), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        proc.kill()
        raise RuntimeError(f"emulator did not start: {line!r} {proc.stderr.read()}")
    url = line.split()[1]
    client_env = json.loads((data_dir / "env.json").read_text())
    return Emulator(url=url, data_dir=data_dir, env=client_env, process=proc)


def stop_emulator(emu: Emulator) -> None:
    emu.process.terminate()
    try:
        emu.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        emu.process.kill()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    emu = start_emulator(tmp_path_factory.mktemp("emulator"))
    yield emu
    stop_emulator(emu)


@pytest.fixture
def emu(emulator, monkeypatch):
    """The emulator, freshly reset, with its client environment applied to this process."""
    emulator.faults(latency_ms=0, replication_lag=0, fault_rate=0, fault_seed=None,
                    drop_response_after_write=None, token_lifetime_s=None)
    emulator.reset()
    emulator.clear_requests()
    for key in [k for k in os.environ if k.startswith(("AZURE_", "ENTRA_BOOTSTRAP_", "IDENTITY_",
                                                       "MSI_", "SYSTEM_"))]:
        monkeypatch.delenv(key, raising=False)
    for key, value in emulator.env.items():
        monkeypatch.setenv(key, value)
    return emulator
