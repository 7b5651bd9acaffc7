"""`plan`, `up`, `down`, `verify` and `demo`: the whole bootstrap from one TOML file.

Parsing and rendering only: the file is validated by ``spec``, its steps are run by the engine
(engine/runner.py, over the step kinds of steps/registry.py: the same steps as the single
commands), the exchange is proved by ``verify``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import CliError, unexpected_error, usage_error
from .common import Options, command, confirm, execute, options

EXIT_CHANGES_PENDING = 5      # plan --detailed-exitcode: the plan is not empty (documented)

FileOpt = Annotated[Path, typer.Option("--file", "-f", envvar="ENTRA_BOOTSTRAP_FILE", show_envvar=True,
                                       help="The bootstrap file (TOML).")]
AuditOpt = Annotated[Optional[Path], typer.Option(
    "--audit-log", envvar="ENTRA_BOOTSTRAP_AUDIT_LOG", show_envvar=True,
    help="Append one JSON line per write (time, operator, tenant, method, object, outcome).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
AllowPrivilegedOpt = Annotated[bool, typer.Option(
    "--allow-privileged", help="Allow privileged Graph roles for every app and identity permission "
                               "of the file (as allow_privileged = true in each entry).")]
PruneOpt = Annotated[bool, typer.Option(
    "--prune", help="Remove what the file's apps hold that the file does not declare (the plan's "
                    "'! not in file' lines); asks first, --yes in scripts.")]
UpgradeOpt = Annotated[bool, typer.Option(
    "--upgrade-instances", help="Upgrade scale-set instances (upgrade policy Manual) to the model "
                                "with the identity change.")]


def register(app: typer.Typer) -> None:
    command(app, "plan")(plan)
    command(app, "up")(up)
    command(app, "down")(down)
    command(app, "verify")(verify)
    command(app, "demo")(demo)


# --- shared --------------------------------------------------------------------------------------
def _load(path: Path, opts: Options, *, allow_privileged: bool = False):
    """Validate the whole file before any request; apply its tenant/subscription/cloud."""
    from ..spec import SpecError, load_spec
    from ..steps.registry import KINDS

    try:
        spec = load_spec(path, sections=[k.file_section for k in KINDS if k.file_section is not None],
                         allow_privileged=allow_privileged)
    except SpecError as err:
        raise CliError(f"{path} is not a valid bootstrap file:\n  " +
                       "\n  ".join(str(p) for p in err.problems),
                       code="InvalidBootstrapFile", exit_code=2,
                       fix="correct the keys named above (see README.md, section 'The whole bootstrap in one file')",
                       details={"problems": [vars(p) for p in err.problems]}) from None
    for key in ("tenant", "subscription", "cloud"):
        from_file, given = getattr(spec, key), getattr(opts, key)
        if from_file and given and str(given).lower() != from_file.lower():
            raise usage_error(f"the file says {key} = '{from_file}' but --{key} (or ENTRA_BOOTSTRAP_"
                              f"{key.upper()}) says '{given}'", code="ConflictingOptions",
                              fix="drop one of them, or make them agree")
        if from_file and not given:
            setattr(opts, key, from_file)
    return spec


def _audit(path: Path | None) -> None:
    from .. import audit

    audit.configure(path)


def _run(spec, opts: Options, *, plan: bool, destroy: bool = False, progress: bool = False,
         yes: bool = False, upgrade_instances: bool = False, prune: bool = False):
    """``plan``/``verify``/``down``'s passes run once; ``up`` plans the whole file first (every
    refusal - a failed check, a missing target, a confirmation refused - happens before the first
    write), asks what needs confirming, then applies on fresh reads."""
    from ..engine import result_values, run
    from ..steps.registry import KINDS

    async def main(session):
        from .. import audit

        if audit.enabled() and not plan:
            claims = await session.graph_token_claims()
            audit.set_principal(claims.get("oid"), claims.get("tid"))
        if plan or destroy:
            outcome = await run(spec, session, KINDS, plan=plan, destroy=destroy,
                                confirm=_restart_confirmation(yes, None), upgrade_instances=upgrade_instances,
                                prune=prune)
        else:
            outcome = await _plan_then_apply(spec, session, KINDS, opts, yes, progress, upgrade_instances,
                                             prune)
        values = result_values(session, outcome.changes, KINDS)
        if not values.get("tenantId"):
            try:
                values["tenantId"] = await session.tenant_id()
            except CliError:
                pass
        values["workloads"] = handover(spec, values, opts.cloud)
        return outcome, values

    return execute(main, opts)


async def _plan_then_apply(spec, session, kinds, opts: Options, yes: bool, progress: bool,
                           upgrade_instances: bool, prune: bool = False):
    import asyncio

    from ..engine import Outcome, run
    from ..steps.undeclared import is_undeclared
    from . import common

    planned = await run(spec, session, kinds, plan=True, upgrade_instances=upgrade_instances, prune=prune)
    if planned.error is not None:
        return Outcome([], planned.error)            # refused before any write: nothing was done
    if not planned.pending:
        return planned                               # nothing to do: the plan is the outcome
    pruned = [c for c in planned.changes if c.changed and is_undeclared(c)]
    if pruned:
        try:
            common.confirm(yes, f"--prune: remove {len(pruned)} object{'s' if len(pruned) > 1 else ''} the file "
                         "does not declare", details=[f"- {c.kind} {c.name}" for c in pruned])
        except CliError as refused:
            return Outcome([], refused)              # not confirmed: nothing was written
    ask = _restart_confirmation(yes, None)
    asked = set()
    for change in planned.changes:
        if change.changed and change.confirm:
            try:
                ask(change)
            except CliError as refused:
                return Outcome([], refused)          # not confirmed: nothing was written
            asked.add((change.kind, change.name))
    tenant = session.memo.get("tenant_id")
    session.memo.clear()                             # the plan's placeholders; apply reads afresh
    if tenant:
        session.memo["tenant_id"] = tenant
    reporter = _Progress(opts) if progress else None
    confirm = _restart_confirmation(yes, reporter)
    done: list = []

    def on_change(change) -> None:
        done.append(change)
        if reporter:
            reporter.change(change)

    try:
        return await run(spec, session, kinds, plan=False, on_change=on_change,
                         confirm=lambda c: None if (c.kind, c.name) in asked else confirm(c),
                         upgrade_instances=upgrade_instances, prune=prune)
    except asyncio.CancelledError:
        if not session.interrupted:
            raise
        from ..errors import interrupted
        return Outcome(done, interrupted(session.interrupted))   # what was done, then the stop
    finally:
        if reporter:
            reporter.close()


# NOTE: the run's default command in the handover; `exec` runs any COMMAND after `--`.
HANDOVER_COMMAND = "terraform apply"
_CLOUD_FLAG = ("usgov", "china")      # a real workload of these clouds needs `exec --cloud`


def handover(spec, values: dict, cloud: str | None) -> list[dict]:
    """``result.workloads``: per declared target of an identity and per app federated with that
    identity, the exact ``exec`` command to run there. ``--identity-client-id`` is added when the
    identity is not the only one the target holds (the metadata endpoint then needs to be told).
    ``values["targets"]`` (the attachment kind's export) is consumed here."""
    targets = values.pop("targets", {})
    apps = {k.lower(): v for k, v in values.get("apps", {}).items()}
    identities = {k.lower(): v for k, v in values.get("identities", {}).items()}
    out: list[dict] = []
    seen: set[tuple[str, str, str]] = set()
    for ident in spec.identities:
        mi = identities.get(ident.name.lower()) or {}
        for target in ident.assign_to:
            held = targets.get(target.label.lower())
            for app in spec.apps:
                federated = any(f.managed_identity and f.managed_identity.rsplit("/", 1)[-1].lower()
                                == ident.name.lower() for f in app.federations)
                app_id = (apps.get(app.unique_name.lower()) or {}).get("appId")
                key = (target.label.lower(), ident.name.lower(), app.unique_name.lower())
                if not federated or not app_id or not mi.get("clientId") or key in seen:
                    continue
                seen.add(key)
                only = (held is not None and not held["systemAssigned"]
                        and held["userAssigned"] == [str(mi.get("id") or "").lower()])
                words = ["entra-bootstrap", "exec"]
                if cloud in _CLOUD_FLAG:
                    words += ["--cloud", cloud]
                words += ["--client-id", app_id]
                if not only:
                    words += ["--identity-client-id", mi["clientId"]]
                words += ["--", HANDOVER_COMMAND]
                out.append({"target": target.label, "identity": ident.name,
                            "identityClientId": mi["clientId"], "app": app.unique_name, "appId": app_id,
                            "command": " ".join(words)})
    return out


class _Progress:
    """A rich status line on a terminal (stderr); nothing otherwise (the result lines follow)."""

    def __init__(self, opts: Options):
        self.status = None
        self.count = 0
        if opts.output == "table" and sys.stderr.isatty():
            from rich.console import Console
            self.status = Console(stderr=True).status("applying ...")
            self.status.start()

    def change(self, change) -> None:
        self.count += 1
        if self.status is not None:
            self.status.update(f"{self.count} objects done; last: {change.outcome} {change.kind} {change.name}")

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()


def _report(opts: Options, outcome, values: dict, *, dry_run: bool) -> None:
    tsv = [values.get("tenantId")]
    for app in values.get("apps", {}).values():
        tsv.append(app.get("appId"))
    for ident in values.get("identities", {}).values():
        tsv += [ident.get("clientId"), ident.get("principalId")]
    error = outcome.error
    if error is not None and opts.output == "json":
        # One JSON document: what was done before the failure, and the failure.
        err = error if isinstance(error, CliError) else unexpected_error(error)
        opts.out.changes(outcome.changes, result=values, error=err)
        raise typer.Exit(err.exit_code)
    opts.out.changes(outcome.changes, result=values, tsv=tsv, dry_run=dry_run)
    if error is None and not dry_run and values:
        opts.out.outputs(values)
    if error is not None:
        raise error


# --- commands ------------------------------------------------------------------------------------
def plan(file: FileOpt, detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode",
        help=f"Exit 0 when nothing would change, {EXIT_CHANGES_PENDING} when changes are pending.")] = False,
        allow_privileged: AllowPrivilegedOpt = False, upgrade_instances: UpgradeOpt = False,
        prune: PruneOpt = False):
    """Show what `up` would do: + create, ~ update, - delete, = unchanged, in the order it would run.

    Read-only. Example: entra-bootstrap plan -f bootstrap.toml --detailed-exitcode
    """
    opts = options()
    spec = _load(file, opts, allow_privileged=allow_privileged)
    outcome, values = _run(spec, opts, plan=True, upgrade_instances=upgrade_instances, prune=prune)
    error = outcome.error
    if error is not None and opts.output == "json":
        # One JSON document: the plan as far as it got, and what stopped it.
        err = error if isinstance(error, CliError) else unexpected_error(error)
        opts.out.plan(outcome.changes, pending=outcome.pending, error=err)
        raise typer.Exit(err.exit_code)
    opts.out.plan(outcome.changes, pending=outcome.pending)
    if error is not None:
        raise error
    if detailed_exitcode and outcome.pending:
        raise typer.Exit(EXIT_CHANGES_PENDING)


def _restart_confirmation(yes: bool, reporter):
    """Asked before a container group is re-sent (every container restarts)."""
    def ask(change) -> None:
        what = f"{change.kind} {change.name}: {change.reason}".strip()
        confirm(yes, f"{what}: {change.confirm or 'this re-sends the container group and restarts every container'}",
                before_asking=reporter.close if reporter is not None else None)
    return ask


def up(file: FileOpt, audit_log: AuditOpt = None,
       yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before re-sending a container "
                                                            "group (which restarts its containers).")] = False,
       allow_privileged: AllowPrivilegedOpt = False, upgrade_instances: UpgradeOpt = False,
       prune: PruneOpt = False):
    """Apply the file: every object created or brought up to date, in dependency order.

    Idempotent: a second run changes nothing; a run cut off halfway is finished by the next.
    Example: entra-bootstrap up -f bootstrap.toml -o json
    """
    opts = options()
    spec = _load(file, opts, allow_privileged=allow_privileged)
    _audit(audit_log)
    dry = opts.dry_run
    outcome, values = _run(spec, opts, plan=dry, progress=not dry, yes=yes,
                           upgrade_instances=upgrade_instances, prune=prune)
    _report(opts, outcome, values, dry_run=dry)


def down(file: FileOpt, yes: YesOpt = False, audit_log: AuditOpt = None):
    """Remove what the file declares, in reverse order; objects it does not declare are left alone.

    Asks first on a terminal; give --yes otherwise. Example: entra-bootstrap down -f bootstrap.toml --yes
    """
    from ..engine import Outcome

    opts = options()
    spec = _load(file, opts)
    _audit(audit_log)
    spec, kept = _unprotected(spec)
    if not opts.dry_run:
        outcome, _ = _run(spec, opts, plan=True, destroy=True)
        if outcome.error is not None:
            raise outcome.error
        if not outcome.pending:
            _report(opts, Outcome(kept + outcome.changes), {}, dry_run=False)
            return
        confirm(yes, _down_question(outcome.changes), details=_down_details(outcome.changes))
    outcome, values = _run(spec, opts, plan=opts.dry_run, destroy=True, yes=True)
    _report(opts, Outcome(kept + outcome.changes, outcome.error), {}, dry_run=opts.dry_run)


def _down_details(changes) -> list[str]:
    """What ``down`` will do, one line each: a detach is an update of the resource, not a deletion."""
    return [f"{'detach' if c.action == 'update' else 'delete'} {c.kind} {c.name}"
            + (f"  ({c.reason})" if c.reason else "") for c in changes if c.changed]


def _down_question(changes) -> str:
    deletes = sum(c.changed and c.action == "delete" for c in changes)
    detaches = sum(c.changed and c.action == "update" for c in changes)
    parts = [f"deletes {deletes} object{'s' if deletes != 1 else ''}"] if deletes else []
    parts += [f"detaches {detaches} identit{'ies' if detaches != 1 else 'y'}"] if detaches else []
    return "down " + " and ".join(parts or ["changes nothing"])


def _unprotected(spec):
    """``down``: the file without its ``protect = true`` entries, and a line for each one kept."""
    from dataclasses import replace

    from ..engine import Change

    kept = [Change("userAssignedIdentity", i.name, "unchanged",
                   reason="protect = true: down leaves it and its attachments")
            for i in spec.identities if i.protect]
    kept += [Change("application", a.unique_name, "unchanged",
                    reason="protect = true: down leaves it and what belongs to it")
             for a in spec.apps if a.protect]
    return replace(spec, identities=tuple(i for i in spec.identities if not i.protect),
                   apps=tuple(a for a in spec.apps if not a.protect)), kept


def verify(file: FileOpt,
           exchange: Annotated[bool, typer.Option(
               "--exchange", help="Also prove the token exchange: managed identity token -> app token.")] = False,
           call: Annotated[Optional[str], typer.Option(
               "--call", help="With --exchange: one GET with the app token (a Graph path, or a URL on the "
                           "cloud's Graph host: the token is sent nowhere else).")] = None):
    """Check the whole chain, read-only: one line per check with pass/fail and the fix.

    Exit 0 only when every check passes. Example: entra-bootstrap verify -f bootstrap.toml --exchange
    """
    from ..verify import checks_from_plan, prove_exchanges

    opts = options()
    spec = _load(file, opts)
    if call and not exchange:
        raise usage_error("--call needs --exchange", code="BadUsage", fix="add --exchange")
    if call:
        from ..clouds import get_cloud
        from ..spec.rules import graph_call_url

        call = graph_call_url(call, get_cloud(opts.cloud).graph)     # before any request

    async def main(session):
        from ..engine import run
        from ..steps.registry import KINDS

        outcome = await run(spec, session, KINDS, plan=True)
        checks = checks_from_plan(spec, outcome, file)
        if exchange and outcome.error is None:
            checks += await prove_exchanges(spec, session, outcome, call)
        return checks

    checks = execute(main, opts)
    opts.out.checks(checks)
    if not all(c["passed"] for c in checks):
        raise typer.Exit(1)


def demo(keep: Annotated[bool, typer.Option("--keep", help="Keep the demo's directory.")] = False):
    """Try everything offline: an embedded emulator, the example file, plan, up, verify --exchange, up.

    Example: entra-bootstrap demo
    """
    from ..demo import run_demo

    raise typer.Exit(run_demo(keep=keep))
