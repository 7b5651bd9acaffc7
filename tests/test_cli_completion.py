"""Shell completion: the four scripts in completions/ are each in their shell's own form and match
a fresh generation, and completing a command and an option works through each shell's protocol
(the environment the script sets when it calls the program back)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The console script: completion is keyed by the program's name (_ENTRA_BOOTSTRAP_COMPLETE).
PROGRAM = str(Path(sys.executable).parent / "entra-bootstrap")
FORMS = {"bash": ("entra-bootstrap.bash", "complete -o default -F _entra_bootstrap_completion entra-bootstrap"),
         "zsh": ("entra-bootstrap.zsh", "#compdef entra-bootstrap"),
         "fish": ("entra-bootstrap.fish", "complete --command entra-bootstrap"),
         "powershell": ("entra-bootstrap.ps1", "Register-ArgumentCompleter -Native -CommandName entra-bootstrap")}


@pytest.mark.parametrize("shell", sorted(FORMS))
def test_completion_scripts_are_up_to_date_and_in_their_shells_form(shell):
    name, form = FORMS[shell]
    script = subprocess.run([PROGRAM, "completion", shell], capture_output=True, text=True, check=True).stdout
    assert script == (ROOT / "completions" / name).read_text(), "run make completions"
    assert form in script
    others = [f for s, (_, f) in FORMS.items() if s != shell]
    assert not any(f in script for f in others), "another shell's script"


def _complete(shell: str, words: str) -> str:
    """What the program answers when ``shell``'s script calls it back for ``words``."""
    env = dict(os.environ, _ENTRA_BOOTSTRAP_COMPLETE=f"complete_{shell}")
    current = words.split()[-1] if not words.endswith(" ") else ""
    if shell == "bash":
        env.update(COMP_WORDS=words, COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)))
    else:
        env["_TYPER_COMPLETE_ARGS"] = words
        if shell == "fish":
            env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
        if shell == "powershell":
            env["_TYPER_COMPLETE_WORD_TO_COMPLETE"] = current
    return subprocess.run([PROGRAM], env=env, capture_output=True, text=True).stdout


@pytest.mark.parametrize("shell", sorted(FORMS))
def test_each_shell_completes_a_command_and_an_option(shell):
    assert "federation" in _complete(shell, "entra-bootstrap fed")
    assert "create" in _complete(shell, "entra-bootstrap app cr")
    assert "--managed-identity" in _complete(shell, "entra-bootstrap federation add --man")
    assert "delete" not in _complete(shell, "entra-bootstrap app cr")


def test_bash_completion_completes_commands_and_options():
    assert "federation" in _complete("bash", "entra-bootstrap fed").split()
    assert "--managed-identity" in _complete("bash", "entra-bootstrap federation add --man").split()
