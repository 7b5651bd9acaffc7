"""The command-line interface (Typer). Only parsing, calling and rendering live here.

Command groups live one per module (app, sp, permission, consent, owner, federation, whoami,
emulator; identity and the bootstrap commands in their own modules). Each module exposes
``register(app)``; modules owned by other parts of the project are registered when present.
Global options and error handling: cli/common.py. No SDK is imported at module level anywhere
in this package, so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
import os

import typer
from typer._click import exceptions as click_errors   # typer's vendored click
from typer.core import TyperGroup

from .common import make_root_callback
from .emulator import emulator_command


def _json_output(args: list[str]) -> bool:
    """-o/--output json among the arguments (the last one wins), else ENTRA_BOOTSTRAP_OUTPUT."""
    value = os.environ.get("ENTRA_BOOTSTRAP_OUTPUT", "")
    for i, arg in enumerate(args):
        if arg in ("-o", "--output") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--output="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-o") and not arg.startswith("--") and len(arg) > 2:
            value = arg[2:]
    return value.strip().lower() == "json"


class _Root(TyperGroup):
    """With -o json, an error of the argument parser is the same one JSON document on stdout as
    every other error (README "Exit codes"), not click's usage text on stderr."""

    def make_context(self, info_name, args, parent=None, **extra):
        self._json = _json_output(list(args))
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click_errors.UsageError as exc:
            raise self._as_json(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click_errors.UsageError as exc:
            raise self._as_json(exc) from None

    def _as_json(self, exc: click_errors.UsageError) -> Exception:
        no_args = getattr(click_errors, "NoArgsIsHelpError", ())
        if not getattr(self, "_json", False) or (no_args and isinstance(exc, no_args)):
            return exc
        from ..errors import usage_error
        from ..render import Output

        path = exc.ctx.command_path if exc.ctx is not None else "entra-bootstrap"
        Output("json").error(usage_error(exc.format_message(), code="UsageError", fix=f"see `{path} -h`"))
        return typer.Exit(exc.exit_code)


app = typer.Typer(name="entra-bootstrap", cls=_Root, no_args_is_help=True, add_completion=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Secretless access from Azure workloads to Microsoft Entra ID applications.")
app.callback()(make_root_callback())

_GROUPS = ("whoami", "application", "sp", "permission", "consent", "owner", "federation", "identity",
           "role", "bootstrap", "workload", "completion")
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
