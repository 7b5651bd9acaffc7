"""The command-line interface (Typer). Only parsing, calling and rendering live here.

Command groups live one per module (app, sp, permission, consent, owner, federation, whoami,
emulator; identity and the bootstrap commands in their own modules). Each module exposes
``register(app)``; modules owned by other parts of the project are registered when present.
Global options and error handling: cli/common.py. No SDK is imported at module level anywhere
in this package, so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

from .common import make_root_callback
from .emulator import emulator_command

app = typer.Typer(name="entra-bootstrap", no_args_is_help=True, add_completion=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Secretless access from Azure workloads to Microsoft Entra ID applications.")
app.callback()(make_root_callback())

_GROUPS = ("whoami", "application", "sp", "permission", "consent", "owner", "federation", "identity",
           "bootstrap")
for _name in _GROUPS:
    try:
        _module = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as exc:       # a group another engineer has not delivered yet
        if exc.name != f"{__name__}.{_name}":
            raise
        continue
    _module.register(app)

app.command("emulator", help="Run the local Entra ID / Graph / ARM emulator in the foreground.")(
    emulator_command)


def main() -> None:
    app()
