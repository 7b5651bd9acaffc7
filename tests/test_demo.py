"""`entra-bootstrap demo`: the README's first command works end to end in a new process."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_the_whole_bootstrap_and_proves_the_exchange(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZURE_", "ENTRA_BOOTSTRAP_", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"))}
    proc = subprocess.run([sys.executable, "-m", "entra_bootstrap", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "Plan: 7 to create, 1 to update, 0 to delete, 0 unchanged." in out
    assert "pass  token exchange" in out and "DeviceManagementConfiguration.ReadWrite.All" in out
    assert "the second `up` sent no write" in out
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []          # nothing left in the working directory
