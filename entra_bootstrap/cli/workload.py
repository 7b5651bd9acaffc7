"""`entra-bootstrap exec | token | env`: run on the workload, with only the metadata endpoint.

``exec`` gets the identity's exchange token, writes it to a private file (0600, in a fresh 0700
directory), keeps it fresh while COMMAND runs with every consumer's environment, forwards signals
and returns COMMAND's exit code; ``token`` writes the same file for a long-lived service (once, or
kept fresh in the foreground with ``--refresh``); ``env`` prints the variables (or the provider
block) one consumer reads. The logic lives in entra_bootstrap/workload.py; no token is printed.
"""

from __future__ import annotations

import enum
import os
import signal
import sys
import threading
from typing import Annotated, Optional

import typer

from .common import command, options

PANEL = "Workload"


class Consumer(str, enum.Enum):
    azure_identity = "azure-identity"
    terraform_azurerm = "terraform-azurerm"
    terraform_azuread = "terraform-azuread"
    terraform_microsoft365 = "terraform-microsoft365"
    az = "az"


class Shell(str, enum.Enum):
    sh = "sh"
    pwsh = "pwsh"
    dotenv = "dotenv"
    hcl = "hcl"


ClientIdOpt = Annotated[Optional[str], typer.Option(
    "--client-id", metavar="APP_CLIENT_ID", rich_help_panel=PANEL,
    help="Client id of the app whose federated credential trusts the identity (required).")]
IdentityOpt = Annotated[Optional[str], typer.Option(
    "--identity-client-id", metavar="MI", rich_help_panel=PANEL,
    help="Client id of the managed identity, when several are attached to this resource.")]
CheckOpt = Annotated[bool, typer.Option(
    "--check/--no-check", rich_help_panel=PANEL,
    help="Exchange the token for the app's once first, to report a wrong federated credential now.")]


def register(root: typer.Typer) -> None:
    # NOTE: options end at COMMAND's first word, so `exec --client-id X terraform plan -out p`
    # needs no `--` (and COMMAND's own options are never read as exec's).
    command(root, "exec", context_settings={"allow_interspersed_args": False})(exec_)
    command(root, "token")(token)
    command(root, "env")(env)


def _cloud():
    from ..clouds import get_cloud

    return get_cloud(options().cloud)


def _acquire(client_id: str, identity_client_id: str | None, check: bool):
    """(cloud, endpoint, identity token, tenant) after the optional exchange check."""
    from ..errors import auth_error
    from ..workload import MetadataEndpoint, exchange_check

    opts = options()
    cloud = _cloud()
    endpoint = MetadataEndpoint(cloud, identity_client_id)
    identity = endpoint.fetch()
    tenant = opts.tenant or identity.tenant_id
    if not tenant:
        raise auth_error("the managed identity's token names no tenant (tid)", code="NoTenant",
                         fix="pass --tenant TENANT_ID")
    if check:
        roles = exchange_check(cloud, tenant, client_id, identity)
        from ..workload import log

        log.info("exchange checked: app %s has Graph roles %s", client_id, ", ".join(roles) or "(none)")
    return cloud, endpoint, identity, tenant


def exec_(
    command_: Annotated[Optional[list[str]], typer.Argument(
        metavar="COMMAND", show_default=False,
        help="The command to run with the token file and the consumers' environment.")] = None,
    client_id: ClientIdOpt = None,
    identity_client_id: IdentityOpt = None,
    check: CheckOpt = True,
) -> None:
    """Run COMMAND with the app's federated token file, kept fresh, and every consumer's environment.

    Sets AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_FEDERATED_TOKEN_FILE/AZURE_AUTHORITY_HOST
    (azure-identity), ARM_USE_OIDC/ARM_CLIENT_ID/ARM_TENANT_ID/ARM_OIDC_TOKEN_FILE_PATH (terraform
    azurerm, azuread), M365_AUTH_METHOD=workload_identity/M365_CLIENT_ID/M365_TENANT_ID (terraform
    microsoft365) and removes the variables that would override them; forwards signals to COMMAND,
    returns its exit code and removes the file.
    """
    from ..errors import usage_error
    from ..workload import (TOKEN_FILE_NAME, RefreshSettings, Refresher, SignalForwarder, Target, check_guid,
                            check_tenant, exec_environment, fresh_token_dir, remove_token_dir, run_command,
                            write_token_file)

    opts = options()
    app = check_guid(client_id, "--client-id", required=True)
    mi = check_guid(identity_client_id, "--identity-client-id")
    opts.tenant = check_tenant(opts.tenant)
    argv = [a for a in (command_ or [])]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise usage_error("no COMMAND to run", code="NoCommand",
                          fix="entra-bootstrap exec --client-id APP -- terraform plan")
    settings = RefreshSettings.from_env()
    cloud, endpoint, identity, tenant = _acquire(app, mi, check)

    with SignalForwarder() as forwarder:
        directory = fresh_token_dir()
        refresher = None
        try:
            path = directory / TOKEN_FILE_NAME
            write_token_file(path, identity.token)
            target = Target(app, tenant, str(path), cloud, opts.subscription)
            refresher = Refresher(endpoint.fetch, path, identity, settings)
            refresher.start()
            from ..workload import log

            log.info("token file %s (expires %s); running %s", path, _iso(identity.expires_on), argv[0])
            code = run_command(argv, exec_environment(os.environ, target), forwarder)
        finally:
            if refresher is not None:
                refresher.stop()
                refresher.join(timeout=2)
            remove_token_dir(directory)
    raise typer.Exit(code)


def _iso(epoch: float) -> str:
    from ..workload import iso

    return iso(epoch)


def token(
    file: Annotated[Optional[str], typer.Option(
        "--file", metavar="PATH", rich_help_panel=PANEL,
        help="Where to write the token (mode 0600; a missing directory is created 0700). Required.")] = None,
    refresh: Annotated[bool, typer.Option(
        "--refresh", rich_help_panel=PANEL,
        help="Stay in the foreground and rewrite the file before the token expires (until SIGTERM).")] = False,
    client_id: ClientIdOpt = None,
    identity_client_id: IdentityOpt = None,
    check: CheckOpt = True,
) -> None:
    """Write the identity's exchange token to a file for a long-lived service (systemd, a sidecar)."""
    from ..errors import usage_error
    from ..workload import RefreshSettings, Refresher, check_guid, check_tenant, prepare_token_path, write_token_file

    opts = options()
    app = check_guid(client_id, "--client-id", required=True)
    mi = check_guid(identity_client_id, "--identity-client-id")
    opts.tenant = check_tenant(opts.tenant)
    if not file:
        raise usage_error("--file is required", code="MissingOption",
                          fix="pass --file PATH, e.g. --file /run/entra-bootstrap/token")
    settings = RefreshSettings.from_env()
    path = prepare_token_path(file)
    cloud, endpoint, identity, tenant = _acquire(app, mi, check)
    write_token_file(path, identity.token)
    opts.out.record({"file": str(path), "clientId": app, "tenantId": tenant,
                     "identityClientId": identity.client_id, "expiresOn": _iso(identity.expires_on),
                     "refresh": refresh}, tsv=[str(path)])
    sys.stdout.flush()
    if not refresh:
        return

    stopped = threading.Event()

    def on_signal(signum, _frame):
        stopped.set()

    for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", signal.SIGTERM)):
        signal.signal(sig, on_signal)

    def announce(tok) -> None:
        sys.stderr.write(f"refreshed {path} (expires {_iso(tok.expires_on)})\n")
        sys.stderr.flush()

    refresher = Refresher(endpoint.fetch, path, identity, settings, on_refresh=announce)
    refresher.start()
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        refresher.stop()
        refresher.join(timeout=2)


def env(
    consumer: Annotated[Optional[Consumer], typer.Option(
        "--for", case_sensitive=False, rich_help_panel=PANEL,
        help="The consumer whose variables to print. Required.")] = None,
    token_file: Annotated[Optional[str], typer.Option(
        "--token-file", metavar="PATH", rich_help_panel=PANEL,
        help="The token file (`entra-bootstrap token --file PATH`). Required.")] = None,
    shell: Annotated[Shell, typer.Option(
        "--shell", case_sensitive=False, rich_help_panel=PANEL,
        help="sh: export K='v'; pwsh: $env:K = 'v'; dotenv: K=v; hcl: the Terraform provider block.")] = Shell.sh,
    client_id: ClientIdOpt = None,
) -> None:
    """Print the variables (or the provider block) a consumer reads to use the token file.

    The tenant is --tenant, else the tid claim of the token in the file. No secret is printed: the
    token stays in the file (for az, the command reads it with $(cat PATH)).
    """
    from pathlib import Path

    from ..errors import usage_error
    from ..workload import OVERRIDES, Target, check_guid, check_tenant, render_env, tenant_from_file

    opts = options()
    app = check_guid(client_id, "--client-id", required=True)
    tenant = check_tenant(opts.tenant)
    if consumer is None:
        raise usage_error("--for is required", code="MissingOption",
                          fix="pass --for azure-identity | terraform-azurerm | terraform-azuread | "
                              "terraform-microsoft365 | az")
    if not token_file:
        raise usage_error("--token-file is required", code="MissingOption",
                          fix="pass --token-file PATH (written by `entra-bootstrap token --file PATH`)")
    path = Path(token_file).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    cloud = _cloud()
    tenant = tenant or tenant_from_file(path)
    if not tenant:
        raise usage_error(f"no tenant: --tenant is not given and {path} holds no token to read it from",
                          code="NoTenant", fix=f"pass --tenant TENANT_ID, or write the file first with "
                                               f"`entra-bootstrap token --client-id {app} --file {path}`")
    target = Target(app, tenant, str(path), cloud, opts.subscription)
    unset = [v for v in OVERRIDES[consumer.value] if v in os.environ] if shell in (Shell.sh, Shell.pwsh) else []
    text = render_env(consumer.value, target, shell.value, unset=unset)
    if opts.output == "json":
        from ..workload import consumer_env
        import json

        doc = {"for": consumer.value, "shell": shell.value, "variables": consumer_env(consumer.value, target),
               "unset": unset, "text": text}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    if opts.output == "none":
        return
    sys.stdout.write(text + "\n")
