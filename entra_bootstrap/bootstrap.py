"""The whole bootstrap from one file: plan, up, down and verify over the same steps as the commands.

``build(spec, mode)`` turns a validated ``Spec`` into *chains* of steps (the very step classes that
``identity``, ``app``, ``sp``, ``permission``, ``consent``, ``owner`` and ``federation`` run):

    phase 1, concurrently:  per identity: user-assigned identity -> its attachments
                            per app:      application -> service principal -> permissions -> consent
    phase 2, concurrently:  per app:      owners -> federated credentials (they need the identities)

``down`` runs the reverse: federation, consent, owners, permissions, service principal, app, then
attachments and identities, and removes only what the file declares. ``plan`` is ``up`` stopped
before every act (``engine.run_step(plan=True)``): one code path. Chains of a phase run
concurrently, bounded by ``CONCURRENCY``; within a chain, steps run in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .engine import Change, run_step
from .spec import AppSpec, IdentitySpec, Spec

CONCURRENCY = 4


@dataclass
class Chain:
    label: str
    steps: list = field(default_factory=list)


@dataclass
class Outcome:
    """What a run did (or would do), in the order it ran, and the first error if any."""

    changes: list[Change]
    error: BaseException | None = None

    @property
    def pending(self) -> bool:
        return any(c.changed and not c.applied for c in self.changes)


# --- building the chains ----------------------------------------------------------------------
def _identity_chain(ident: IdentitySpec, present: bool, confirm: Callable | None) -> Chain:
    from .steps.user_identity import UserIdentityStep
    from .steps.vm_identity import attach_step

    create = UserIdentityStep(ident.name, ident.resource_group, location=ident.location,
                              tags=dict(ident.tags), present=present)
    # NOTE: a container group has no identity PATCH: attaching re-sends the whole group and
    # restarts its containers (FACTS.md), so ``confirm(change)`` is asked first.
    attach = [attach_step(t, ident.name, ident.resource_group, present=present, confirm=confirm)
              for t in ident.assign_to]
    return Chain(f"identity {ident.name}", [create, *attach] if present else [*attach, create])


def _app_chain(app: AppSpec, present: bool) -> Chain:
    from .steps.application import ApplicationStep
    from .steps.consent import ConsentStep
    from .steps.permissions import PermissionsStep
    from .steps.service_principal import ServicePrincipalStep

    steps: list = [ApplicationStep(app.unique_name, app.display_name, app.sign_in_audience,
                                   present=present),
                   ServicePrincipalStep(app.unique_name, present=present)]
    perms = [PermissionsStep(app.unique_name, p.api, list(p.roles), list(p.scopes), present=present)
             for p in app.permissions]
    consents = [ConsentStep(app.unique_name, p.api, list(p.roles), list(p.scopes),
                            allow_privileged=app.allow_privileged, present=present)
                for p in app.permissions] if app.consent else []
    if present:
        steps += perms + consents
    else:
        app_step, sp_step = steps
        steps = [_UnlessAppGone(s, app.unique_name) for s in consents + perms + [sp_step]] + [app_step]
    return Chain(f"app {app.unique_name}", steps)


def _links_chain(spec: Spec, app: AppSpec, present: bool) -> Chain:
    from .steps.federation import federation_step
    from .steps.owners import owner_step

    owners = [owner_step(spec, app.unique_name, o, present=present) for o in app.owners]
    feds = [federation_step(spec, app.unique_name, f, present=present) for f in app.federations]
    if present:
        return Chain(f"app {app.unique_name} links", owners + feds)
    return Chain(f"app {app.unique_name} links",
                 [_UnlessAppGone(s, app.unique_name) for s in feds + owners])


class _UnlessAppGone:
    """``down``: what hangs off an application that no longer exists is already gone."""

    def __init__(self, step, unique_name: str):
        self.step = step
        self.kind = step.kind
        self.unique_name = unique_name

    async def plan(self, session) -> list[Change]:
        from .steps import find_application

        if await find_application(session, self.unique_name, retry=False) is None:
            return [Change(self.kind, self._name(), "unchanged", reason="the application does not exist")]
        return await self.step.plan(session)

    def _name(self) -> str:
        """Named as the step names it when the app exists (app/credential, app <- owner)."""
        if getattr(self.step, "label", None) and self.kind == "owner":
            return f"{self.unique_name} <- {self.step.label}"
        if getattr(self.step, "name", None):
            return f"{self.unique_name}/{self.step.name}"
        return self.unique_name

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        return await self.step.apply(session, changes)


def build(spec: Spec, *, destroy: bool = False, confirm: Callable | None = None) -> list[list[Chain]]:
    """The phases of chains for ``up``/``plan`` (or ``down`` when ``destroy``)."""
    present = not destroy
    identities = [_identity_chain(i, present, confirm) for i in spec.identities]
    apps = [_app_chain(a, present) for a in spec.apps]
    links = [_links_chain(spec, a, present) for a in spec.apps if a.owners or a.federations]
    if destroy:
        # federation, consent, owners, permissions, SP, app; then attachments and identities
        return [[c for c in links if c.steps], [c for c in apps if c.steps],
                [c for c in identities if c.steps]]
    return [[c for c in identities + apps if c.steps], [c for c in links if c.steps]]


# --- references outside the file, checked before the first write ------------------------------
async def preflight(spec: Spec, session) -> None:
    """Read-only: what the file names but does not declare must exist (exit 4 / 2 otherwise)."""
    from .steps.lookups import resolve_user_assigned_identity
    from .steps import api_app_id, resource_service_principal
    from .steps.owners import require_principal
    from .steps.permissions import resolve

    from .errors import usage_error

    for ident in spec.identities:
        for target in ident.assign_to:
            sub = (target.resource_id or "").split("/")[2:3]
            if sub and sub[0].lower() != session.subscription_id.lower():
                raise usage_error(f"identity {ident.name}: target {target.resource_id} is in subscription "
                                  f"{sub[0]}, not in {session.subscription_id}", code="OtherSubscription",
                                  fix="declare that target in a file run with --subscription " + sub[0])
    checks = []
    for app in spec.apps:
        for owner in app.owners:
            if owner.kind == "principal":
                checks.append(require_principal(session, owner.value, owner.value))
            elif owner.value.startswith("/"):
                checks.append(resolve_user_assigned_identity(session, owner.value))
        for fed in app.federations:
            if fed.managed_identity and fed.managed_identity.startswith("/"):
                checks.append(resolve_user_assigned_identity(session, fed.managed_identity))
        for perm in app.permissions:
            if not perm.is_graph:
                checks.append(_resolve_api(session, api_app_id(perm.api), list(perm.roles),
                                           list(perm.scopes), resource_service_principal, resolve))
    for coro in checks:          # in order, so the first problem named is the first in the file
        await coro


async def _resolve_api(session, app_id, roles, scopes, resource_sp, resolve) -> None:
    resolve(await resource_sp(session, app_id), roles, scopes)


# --- running them -----------------------------------------------------------------------------
async def run(spec: Spec, session, *, plan: bool, destroy: bool = False,
              on_change: Callable[[Change], None] | None = None,
              confirm: Callable | None = None) -> Outcome:
    """Run every phase; a failed chain stops only itself, later phases do not start."""
    phases = build(spec, destroy=destroy, confirm=confirm)
    if not destroy:
        try:
            await preflight(spec, session)
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


def result_values(spec: Spec, session, changes: Sequence[Change]) -> dict[str, Any]:
    """The ids a script needs next: app client ids, tenant, identity client and principal ids."""
    values: dict[str, Any] = {"tenantId": session.memo.get("tenant_id"), "apps": {}, "identities": {}}
    for c in changes:
        if c.kind == "application" and c.ids.get("appId"):
            values["apps"][c.ids.get("uniqueName") or c.name] = {
                "appId": c.ids["appId"], "objectId": c.ids.get("objectId")}
        elif c.kind == "servicePrincipal" and c.ids.get("objectId"):
            for app in values["apps"].values():
                if app["appId"] == c.ids.get("appId"):
                    app["servicePrincipalId"] = c.ids["objectId"]
        elif c.kind == "userAssignedIdentity" and c.ids.get("principalId"):
            values["identities"][c.name] = {k: c.ids.get(k) for k in ("clientId", "principalId", "id")}
    return values
