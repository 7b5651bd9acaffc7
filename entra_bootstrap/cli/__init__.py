"""The command-line interface (Typer). Only parsing, calling and rendering live here."""

from __future__ import annotations

import typer

from .emulator import emulator_command

app = typer.Typer(name="entra-bootstrap", no_args_is_help=True, add_completion=True,
                  help="Secretless access from Azure workloads to Microsoft Entra ID applications.")
app.command("emulator")(emulator_command)


@app.callback()
def _root() -> None:
    """Secretless access from Azure workloads to Microsoft Entra ID applications."""


def main() -> None:
    app()
