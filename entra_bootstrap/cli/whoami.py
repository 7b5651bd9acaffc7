"""`entra-bootstrap whoami`: which credential signed the operator in, as whom, with which Graph roles.

The Graph token is decoded (not verified) to read its claims; the token itself is never printed.
"""

from __future__ import annotations

import typer

from .common import command, execute, options


def register(root: typer.Typer) -> None:
    command(root, "whoami")(whoami)


def whoami() -> None:
    """Show the credential used, the tenant, the principal and its Microsoft Graph roles."""
    from ..steps.queries import whoami as read_whoami

    opts = options()
    info = execute(read_whoami)
    if opts.output != "json":
        info = {k: v for k, v in info.items() if v not in (None, "", [])} | {"graphRoles": info["graphRoles"]}
    opts.out.record(info, tsv=[info.get("principalId"), info.get("tenantId")])
