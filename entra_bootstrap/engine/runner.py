"""The one runner: every command's steps, and the whole bootstrap file, go through here.

``run_steps(steps, session, plan=)`` runs steps in order: observe -> diff -> act -> re-read, and
with ``plan=True`` (``--dry-run``, ``plan``) it stops before every act - the same code path as
applying, minus the writes.

``run(spec, session, kinds, ...)`` runs a bootstrap file through the step kinds it is handed (the
registry, steps/registry.py, in the order their steps run within a chain): each kind turns its
section of the file into steps grouped in *chains*; then

    1. every kind's ``check`` runs (read-only), before any step acts;
    2. phase by phase, the chains of a phase run concurrently (at most ``CONCURRENCY`` steps at a
       time), the steps of a chain one after the other; a failed chain stops only itself, and no
       later phase starts;
    3. steps acting on the same ARM resource (two identities attached to one VM) hold one lock, so
       each reads what the previous one wrote.

``down`` (``destroy=True``) runs the kinds in reverse order, phase by ``down_phase``, and removes
only what the file declares. The runner names no step kind: everything kind-specific is in the
kind's declaration.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .change import Change
from .kind import BuildContext, StepKind

CONCURRENCY = 4


async def run_step(step, session, *, plan: bool = False) -> list[Change]:
    changes = await step.plan(session)
    if plan or not any(c.changed for c in changes):
        return changes
    return await step.apply(session, changes)


async def run_steps(steps: Sequence, session, *, plan: bool = False) -> list[Change]:
    out: list[Change] = []
    for step in steps:
        out.extend(await run_step(step, session, plan=plan))
    return out


@dataclass
class Chain:
    label: str
    order: tuple
    steps: list = field(default_factory=list)


@dataclass
class Outcome:
    """What a run did (or would do), in the order it ran, and the first error if any."""

    changes: list[Change]
    error: BaseException | None = None

    @property
    def pending(self) -> bool:
        return any(c.changed and not c.applied for c in self.changes)


# --- building the chains from the registry ------------------------------------------------------
def build(spec, kinds: Sequence[StepKind], *, destroy: bool = False,
          confirm: Callable | None = None, upgrade_instances: bool = False,
          prune: bool = False) -> list[list[Chain]]:
    """The phases of chains for ``up``/``plan`` (or ``down`` when ``destroy``)."""
    ctx = BuildContext(present=not destroy, confirm=confirm, upgrade_instances=upgrade_instances,
                       prune=prune)
    chains: dict[tuple[int, str], Chain] = {}
    for kind in (reversed(kinds) if destroy else kinds):
        phase = kind.down_phase if destroy else kind.phase
        for order, label, step in kind.steps(spec, ctx):
            chain = chains.setdefault((phase, label), Chain(label, order))
            chain.steps.append(step)
    phases = sorted({phase for phase, _ in chains})
    return [sorted((c for (p, _), c in chains.items() if p == phase), key=lambda c: c.order)
            for phase in phases]


async def check(spec, session, kinds: Sequence[StepKind]) -> None:
    """Every kind's read-only checks of what the file references but does not declare."""
    for kind in kinds:
        if kind.check is not None:
            await kind.check(spec, session)


# --- running them -------------------------------------------------------------------------------
async def run(spec, session, kinds: Sequence[StepKind], *, plan: bool, destroy: bool = False,
              on_change: Callable[[Change], None] | None = None,
              confirm: Callable | None = None, upgrade_instances: bool = False,
              prune: bool = False) -> Outcome:
    """Check everything, then run every phase; a failed chain stops only itself."""
    phases = build(spec, kinds, destroy=destroy, confirm=confirm, upgrade_instances=upgrade_instances,
                   prune=prune)
    if not destroy:
        try:
            await check(spec, session, kinds)
        except Exception as exc:  # noqa: BLE001 - reported like any failed step, before any write
            return Outcome([], exc)
    limit = asyncio.Semaphore(CONCURRENCY)
    targets: dict[tuple, asyncio.Lock] = {}
    done: list[Change] = []
    for phase in phases:
        results = await asyncio.gather(*(_run_chain(chain, session, plan, limit, on_change, targets)
                                         for chain in phase))
        error = None
        for changes, exc in results:
            done.extend(changes)
            error = error or exc
        if error is not None:
            return Outcome(done, error)
    return Outcome(done)


async def _run_chain(chain: Chain, session, plan: bool, limit: asyncio.Semaphore,
                     on_change: Callable[[Change], None] | None,
                     targets: dict[tuple, asyncio.Lock]) -> tuple[list[Change], BaseException | None]:
    """``targets``: one lock per ARM resource that several chains attach identities to (two
    identities on one VM): such steps run one after the other, each reading what the previous
    wrote (a container group PUT would otherwise erase the other identity)."""
    out: list[Change] = []
    for step in chain.steps:
        key = getattr(step, "target_key", None)
        target = targets.setdefault(key, asyncio.Lock()) if key else contextlib.nullcontext()
        try:
            async with target, limit:
                changes = await run_step(step, session, plan=plan)
        except Exception as exc:  # noqa: BLE001 - reported with what was done before it
            return out, exc
        for change in changes:
            out.append(change)
            if on_change is not None:
                on_change(change)
    return out, None


def result_values(session, changes: Sequence[Change], kinds: Sequence[StepKind]) -> dict[str, Any]:
    """The ids a script needs next (each kind's ``export``): app client ids, tenant, identities.

    A kind's ``export`` sees the changes of its ``name`` and of every ``Change.kind`` its ``labels``
    name (the attachment kind reports vmIdentity, vmssIdentity, containerGroupIdentity)."""
    exports = {key: kind.export for kind in kinds if kind.export is not None
               for key in (kind.name, *kind.labels)}
    values: dict[str, Any] = {"tenantId": session.memo.get("tenant_id"), "apps": {}, "identities": {}}
    for change in changes:
        export = exports.get(change.kind)
        if export is not None:
            export(values, change)
    return values
