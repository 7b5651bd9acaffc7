"""`--version` prints the installed package's version (from its metadata) and exits 0."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

PROGRAM = str(Path(sys.executable).parent / "entra-bootstrap")


def test_version_is_the_package_metadata_version():
    out = subprocess.run([PROGRAM, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout == f"entra-bootstrap {version('entra-bootstrap')}\n"
    assert version("entra-bootstrap") in (Path(__file__).parent.parent / "pyproject.toml").read_text()
