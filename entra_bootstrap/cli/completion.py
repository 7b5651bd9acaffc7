"""`entra-bootstrap completion SHELL`: the shell's completion script, in that shell's own form.

bash (``complete -F``), zsh (``#compdef``), fish (``complete -c``) and PowerShell
(``Register-ArgumentCompleter``): each script calls the program back with
``_ENTRA_BOOTSTRAP_COMPLETE=complete_<shell>`` and the words typed so far (Typer's completion
protocol), so completions always follow the installed version's commands and options.
``make completions`` writes them to ``completions/`` (a test fails when they drift).
"""

from __future__ import annotations

import enum
from typing import Annotated

import typer

PROG = "entra-bootstrap"
COMPLETE_VAR = "_ENTRA_BOOTSTRAP_COMPLETE"
FILES = {"bash": "entra-bootstrap.bash", "zsh": "entra-bootstrap.zsh", "fish": "entra-bootstrap.fish",
         "powershell": "entra-bootstrap.ps1"}


class Shell(str, enum.Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


def script(shell: str) -> str:
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell) + "\n"


def completion(shell: Annotated[Shell, typer.Argument(help="bash, zsh, fish or powershell.")]) -> None:
    """Print the completion script of SHELL.

    Example: entra-bootstrap completion zsh > "${fpath[1]}/_entra-bootstrap"
    """
    typer.echo(script(shell.value), nl=False)


def register(app: typer.Typer) -> None:
    app.command("completion")(completion)
