"""`make bench`: the benchmarks of DESIGN.md's budgets (not tests; nothing here asserts a timer).

    .venv/bin/python tests/benchmarks/bench.py [--runs N]

1. `entra-bootstrap --help` wall time (a new process each run): budget 0.15 s.
2. The example bootstrap (identity, VM attachment, app, SP, one Graph role, consent, owner,
   federation) with `up` against a fresh emulator, in a new process: budget 1.0 s; and the
   second, no-op `up`: budget 0.6 s. Each run resets the emulator first.
3. Peak resident memory of one `up` process.
4. The emulator's cost per request on loopback (bench_emulator.py).
Prints a table; BENCHMARKS.md records what it printed and on which machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib import resources
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "entra_bootstrap"]


def start_emulator(data_dir: Path) -> tuple[subprocess.Popen, str, dict]:
    proc = subprocess.Popen(CLI + ["emulator", "--port", "0", "--data-dir", str(data_dir)],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        proc.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return proc, line.split()[1], json.loads((data_dir / "env.json").read_text())


def control(url: str, ca: str, path: str) -> None:
    req = urllib.request.Request(url + path, method="POST", data=b"")
    urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca), timeout=30).read()


def timed_process(args: list[str], env: dict) -> tuple[float, int, int]:
    """(seconds, exit code, peak RSS in KiB of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return elapsed, proc.returncode, max(rss, before)


def row(name: str, samples: list[float], budget: float | None) -> str:
    med = statistics.median(samples)
    verdict = "" if budget is None else ("within budget" if med <= budget else "OVER budget")
    return (f"{name:<38} median {med * 1000:7.0f} ms   min {min(samples) * 1000:7.0f} ms   "
            f"max {max(samples) * 1000:7.0f} ms   (budget {budget * 1000:.0f} ms) {verdict}"
            if budget else f"{name:<38} median {med * 1000:7.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    # NOTE: a pip-installed package has its bytecode compiled; measure like that (this sandbox sets
    # PYTHONDONTWRITEBYTECODE, which would recompile our modules in every process).
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("AZURE_", "ENTRA_BOOTSTRAP_", "IDENTITY_", "MSI_"))
                and k != "PYTHONDONTWRITEBYTECODE"}
    import compileall
    compileall.compile_dir(str(HERE.parent.parent / "entra_bootstrap"), quiet=1)

    helps = [timed_process(CLI + ["--help"], base_env)[0] for _ in range(args.runs)]
    print(row("entra-bootstrap --help", helps, 0.15))

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        proc, url, env = start_emulator(tmp_path / "emu")
        try:
            example = tmp_path / "bootstrap.toml"
            example.write_text(resources.files("entra_bootstrap").joinpath("data/example.toml").read_text())
            full_env = {**base_env, **env}
            first, second, peak = [], [], 0
            for _ in range(args.runs):
                control(url, env["REQUESTS_CA_BUNDLE"], "/_emulator/reset")
                t, _, rss = timed_process(CLI + ["up", "-f", str(example), "-o", "none"], full_env)
                first.append(t)
                peak = max(peak, rss)
                t, _, _ = timed_process(CLI + ["up", "-f", str(example), "-o", "none"], full_env)
                second.append(t)
            print(row("up (example file, fresh)", first, 1.0))
            print(row("up again (no-op)", second, 0.6))
            print(f"{'peak RSS of an up process':<38} {peak / 1024:7.1f} MiB")
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    print()
    subprocess.run([sys.executable, str(HERE / "bench_emulator.py")], check=False)


if __name__ == "__main__":
    main()
