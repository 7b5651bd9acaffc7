"""`entra-bootstrap demo`: the whole tool offline, end to end, in one command.

Starts an embedded emulator, writes the example bootstrap file next to it, and runs the real
commands in this process — ``plan``, ``up``, ``verify --exchange``, ``up`` again — then prints a
short summary (including how many writes the second ``up`` sent: none) and stops the emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import sys
import tempfile
import urllib.request
from importlib import resources
from pathlib import Path


def _control(url: str, ca: str, path: str, method: str = "GET"):
    req = urllib.request.Request(url + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca), timeout=30) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def _writes(url: str, ca: str) -> list[dict]:
    """Graph and ARM writes the emulator logged (token requests and read actions are not writes)."""
    from .emulator.app import is_write

    return [r for r in _control(url, ca, "/_emulator/requests") if is_write(r["method"], r["path"])]


def _invoke(args: list[str]) -> int:
    from .cli import app

    print(f"\n$ entra-bootstrap {' '.join(args)}", flush=True)
    try:
        app(args, prog_name="entra-bootstrap", standalone_mode=False)
    except SystemExit as exc:  # typer.Exit surfaces as click's exit
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001
        code = getattr(exc, "exit_code", None)
        return int(code) if code is not None else 1
    finally:
        sys.stdout.flush()
    return 0


def run_demo(keep: bool = False) -> int:
    from .emulator import embedded

    work = Path(tempfile.mkdtemp(prefix="entra-bootstrap-demo-"))
    saved = dict(os.environ)
    emu = None
    try:
        print(f"Starting the emulator (state and env files in {work}) ...")
        emu = embedded.start(work / "emulator")
        for key in [k for k in os.environ if k.startswith(("AZURE_", "ENTRA_BOOTSTRAP_", "IDENTITY_", "MSI_"))]:
            del os.environ[key]
        os.environ.update(emu.env)
        print(f"ready {emu.url}")
        example = work / "bootstrap.toml"
        example.write_text(resources.files("entra_bootstrap").joinpath("data/example.toml").read_text())
        print(f"Wrote the example bootstrap file to {example}:\n")
        print(example.read_text())
        ca = emu.env["REQUESTS_CA_BUNDLE"]
        steps = [["plan", "-f", str(example)],
                 ["up", "-f", str(example)],
                 ["verify", "-f", str(example), "--exchange", "--call", "/deviceManagement/deviceConfigurations"]]
        for args in steps:
            code = _invoke(args)
            if code != 0:
                print(f"\ndemo: `entra-bootstrap {args[0]}` exited {code}", file=sys.stderr)
                return 1
        _control(emu.url, ca, "/_emulator/requests/clear", "POST")
        code = _invoke(["up", "-f", str(example)])
        second = _writes(emu.url, ca)
        if code != 0 or second:
            print(f"\ndemo: the second `up` exited {code} and sent {len(second)} writes", file=sys.stderr)
            return 1
        print("\nDemo finished: identity attached to myVM, app + service principal + Graph role consented,"
              " owner and federated credential in place;\nthe managed identity token was exchanged for an"
              " app token carrying the consented role, and the second `up` sent no write.")
        return 0
    finally:
        if emu is not None:
            emu.stop()
        os.environ.clear()
        os.environ.update(saved)
        if keep:
            print(f"Kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
