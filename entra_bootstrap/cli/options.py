"""Options shared by several command groups (declared once, like the global ones in common.py)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

AppOpt = Annotated[str, typer.Option("--app", "-a", metavar="APP",
                                     help="The application: client id, object id or unique name.")]
ApiOpt = Annotated[Optional[str], typer.Option(
    "--api", metavar="API", help="\"Microsoft Graph\" (default) or the API's client id (appId).")]
ResourceGroupOpt = Annotated[Optional[str], typer.Option(
    "--resource-group", "-g", metavar="RG", help="Resource group of a user-assigned identity given by name.")]


def split_values(values: list[str] | None) -> list[str]:
    """Repeated options and comma-separated values alike: --role A --role B,C -> [A, B, C]."""
    out: list[str] = []
    for value in values or []:
        for part in value.split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out
