"""Shell completion: the scripts in completions/ match the app, and completing a command works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The console script: completion is keyed by the program's name (_ENTRA_BOOTSTRAP_COMPLETE).
PROGRAM = str(Path(sys.executable).parent / "entra-bootstrap")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_up_to_date(shell):
    script = subprocess.run([PROGRAM, "--show-completion", shell],
                            capture_output=True, text=True, check=True).stdout
    assert script == (ROOT / "completions" / f"entra-bootstrap.{shell}").read_text(), \
        "run completions/generate.sh"


def test_bash_completion_completes_commands_and_options():
    def complete(words: str) -> list[str]:
        env = dict(os.environ, _ENTRA_BOOTSTRAP_COMPLETE="complete_bash", COMP_WORDS=words,
                   COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)))
        out = subprocess.run([PROGRAM], env=env, capture_output=True,
                             text=True).stdout
        return out.split()

    assert "federation" in complete("entra-bootstrap fed")
    assert "create" in complete("entra-bootstrap app cr")
    assert "--managed-identity" in complete("entra-bootstrap federation add --man")
