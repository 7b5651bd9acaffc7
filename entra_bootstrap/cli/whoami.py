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
    opts = options()

    async def go(session):
        claims = await session.graph_token_claims()
        return {"credential": session.credential.used, "cloud": session.cloud.name,
                "tenantId": claims.get("tid"), "principalId": claims.get("oid"),
                "appId": claims.get("appid") or claims.get("azp"),
                "principalType": "user" if claims.get("idtyp") == "user" or claims.get("upn")
                else "application",
                "user": claims.get("upn") or claims.get("preferred_username"),
                "audience": claims.get("aud"),
                "graphRoles": sorted(claims.get("roles") or []),
                "graphScopes": sorted((claims.get("scp") or "").split())}

    info = execute(go)
    if opts.output != "json":
        info = {k: v for k, v in info.items() if v not in (None, "", [])} | {"graphRoles": info["graphRoles"]}
    opts.out.record(info, tsv=[info.get("principalId"), info.get("tenantId")])
