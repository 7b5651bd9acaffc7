"""One emulator per --data-dir: a second one fails before touching the first one's files, and the
env files it writes name absolute paths (they work after a cd)."""

from __future__ import annotations

import subprocess
import sys

from conftest import start_emulator, stop_emulator


def test_a_second_emulator_on_a_data_dir_in_use_fails_and_touches_nothing(tmp_path):
    data = tmp_path / "data"
    first = start_emulator(data)
    try:
        before = {name: (data / name).read_bytes() for name in ("ca.pem", "server.pem", "server.key", "env.sh")}
        second = subprocess.run([sys.executable, "-m", "entra_bootstrap", "emulator", "--port", "0",
                                 "--data-dir", str(data)], capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert "another emulator" in second.stderr and str(first.process.pid) in second.stderr
        assert "another --data-dir" in second.stderr and "Traceback" not in second.stderr
        assert {name: (data / name).read_bytes() for name in before} == before
        assert first.control("GET", "/_emulator/faults") is not None       # the first still answers
    finally:
        stop_emulator(first)
    again = start_emulator(data)                       # free again once the first has stopped
    stop_emulator(again)


def test_env_files_name_absolute_paths_for_a_relative_data_dir(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "entra_bootstrap", "emulator", "--port", "0",
                             "--data-dir", "rel"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("ready ")
        env_sh = (tmp_path / "rel" / "env.sh").read_text()
        ca_lines = [line for line in env_sh.splitlines() if "ca.pem" in line]
        assert ca_lines and all(f"={tmp_path}/rel/ca.pem" in line.replace("'", "") for line in ca_lines)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
