"""Step: the managed identities of a virtual machine or a VM scale set (ARM identity PATCH).

NOTE: Managed identities for Azure resources, "Configure managed identities on Azure VMs using
REST API calls" (and Virtual Machines - Update): a PATCH with ``type: SystemAssigned`` drops every
user-assigned identity, so the step reads the resource first and sends the combined type of what
is there and what is wanted. ``userAssignedIdentities`` in a PATCH is merged by ARM (``{}`` adds,
``null`` removes one), so only the identities that change are named: the operator then needs
Managed Identity Operator only on the identities it attaches, not on those already there.
When the resulting type has no UserAssigned, the map is left out (ARM refuses ids with such a type).

Scale sets: with ``upgradePolicy.mode = Manual`` a model change reaches running instances only when
they are upgraded; the step says so, and upgrades them with ``upgrade_instances``.

``Attached`` and ``IdentityPlan`` (what is attached, what is wanted) are in
steps/identity_attachment.py, shared with the container group step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..clients.arm import arm
from ..engine import BuildContext, Change, StepKind
from ..errors import usage_error
# Re-exported: the shared attachment logic used to live here.
from .identity_attachment import (TARGET_KINDS, TARGETS, Attached, IdentityPlan, gone,  # noqa: F401
                                  change_ids, check_outcome, identity_refs, plan_identity, type_text,
                                  refuse_unknown_detach, wanted_user_identities,
                                  detach_first, identity_principals)


@dataclass
class ComputeIdentityStep:
    """Enable or disable identities on a VM (``target="vm"``) or scale set (``"vmss"``).

    ``users``: user-assigned identities by name (in ``identity_group``, default the target's
    resource group) or by resource id."""

    target: str
    name: str
    resource_group: str
    mode: str                              # enable | disable
    system: bool = False
    users: Sequence[str] = ()
    identity_group: str | None = None
    upgrade_instances: bool = False
    gone_ok: bool = False                  # down: a resource that no longer exists has nothing attached
    kind: str = ""
    attached: Attached | None = field(default=None, init=False)
    _plan: IdentityPlan | None = field(default=None, init=False)
    _resource: dict | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.target not in ("vm", "vmss"):
            raise usage_error(f"unknown compute target {self.target!r}")
        self.kind = f"{self.target}Identity"

    @property
    def obj(self) -> str:
        return f"{TARGETS[self.target][0]} '{self.name}' in resource group '{self.resource_group}'"

    @property
    def target_key(self) -> tuple[str, str, str]:
        """The resource it writes: ``up``/``down`` never run two such steps on it at once."""
        return (self.target, self.resource_group.lower(), self.name.lower())

    @property
    def manual_upgrade(self) -> bool:
        policy = ((self._resource or {}).get("properties") or {}).get("upgradePolicy") or {}
        return self.target == "vmss" and str(policy.get("mode", "Manual")).lower() == "manual"

    async def plan(self, session) -> list[Change]:
        refs = identity_refs(session, self.users, self.identity_group or self.resource_group)
        client = arm(session)
        self._resource = await client.get_compute(self.target, self.resource_group, self.name, self.obj,
                                                  missing_ok=self.gone_ok)
        if self._resource is None:
            return [gone(self.kind, self.name)]
        users = await wanted_user_identities(session, self.mode, refs)
        current = Attached.of(self._resource)
        self.attached = current
        if self.mode == "disable" and not self.gone_ok:
            await refuse_unknown_detach(session, refs, current, self.obj)
        self._plan = plan_identity(current, self.mode, self.system, users,
                                   await identity_principals(session, self.mode, refs))
        action = "update" if self._plan.changed else "unchanged"
        change = Change(self.kind, self.name, action, ids=change_ids(current), reason=self._plan.reason(),
                        fields=("identity",) if self._plan.changed else (),
                        before=current.as_dict(), after={"type": self._plan.type,
                                                         "userAssigned": sorted(self._plan.users.values())})
        changes = [change]
        if self.target == "vmss" and self.manual_upgrade:
            changes.append(await self._instances_change(session, will_change=self._plan.changed))
        return changes

    async def _instances_change(self, session, *, will_change: bool) -> Change:
        instances = await arm(session).list_scale_set_instances(self.resource_group, self.name, self.obj)
        ids = [str(i.get("instanceId")) for i in instances]
        stale = ids if will_change else [str(i.get("instanceId")) for i in instances
                                         if not (i.get("properties") or {}).get("latestModelApplied", True)]
        name = f"{self.name} instances"
        if not stale:
            return Change("scaleSetInstances", name, "unchanged", reason="every instance runs the latest model")
        if self.upgrade_instances:
            return Change("scaleSetInstances", name, "update", fields=("latestModelApplied",),
                          reason=f"upgrade instances {', '.join(stale)} to the latest model", after=stale)
        note = (f"scale set '{self.name}' has upgradePolicy Manual: instances {', '.join(stale)} get the "
                "identity change only when upgraded; run again with --upgrade-instances")
        return Change("scaleSetInstances", name, "unchanged",
                      reason=f"instances {', '.join(stale)} need an upgrade (not requested)", notes=(note,))

    def _patch_body(self) -> dict:
        plan = self._plan
        identity: dict = {"type": plan.type}
        if plan.users:
            delta = {rid: {} for rid in plan.add}
            delta.update({rid: None for rid in plan.remove})
            if delta:
                identity["userAssignedIdentities"] = delta
        return {"identity": identity}

    def _detach_body(self) -> dict:
        """The first write of a re-attachment: the dead identities out, everything else kept."""
        kind, _ = detach_first(self.attached, self._plan)
        identity: dict = {"type": kind}
        if kind != "None" and "UserAssigned" in kind:
            identity["userAssignedIdentities"] = {rid: None for rid in self._plan.reattach}
        return {"identity": identity}

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        client = arm(session)
        out = []
        for change in changes:
            if change.kind == self.kind and change.changed:
                if self._plan.reattach:
                    await client.patch_compute(self.target, self.resource_group, self.name,
                                               self._detach_body(), self.obj)
                result = await client.patch_compute(self.target, self.resource_group, self.name,
                                                    self._patch_body(), self.obj,
                                                    attaching=bool(self._plan.add))
                self.attached = check_outcome(result, self._plan, self.obj)
                change.ids = change_ids(self.attached)
                change.applied = True
            elif change.kind == "scaleSetInstances" and change.changed:
                # Re-read: the instances the write left on an older model.
                fresh = await self._instances_change(session, will_change=False)
                if fresh.changed:
                    await client.upgrade_scale_set_instances(self.resource_group, self.name, fresh.after,
                                                             self.obj)
                    change.reason = fresh.reason
                    change.applied = True
                else:
                    change = fresh
            out.append(change)
        return out


def identity_step(target: str, name: str, resource_group: str, mode: str, *, system: bool = False,
                  users: Sequence[str] = (), identity_group: str | None = None,
                  upgrade_instances: bool = False, confirm: Callable | None = None, gone_ok: bool = False):
    """The step for a VM, scale set or container group (``target`` vm | vmss | container-group);
    ``gone_ok``: a resource that does not exist is nothing to detach (``down``), not an error."""
    kind = TARGET_KINDS.get(target)
    if kind is None:
        raise usage_error(f"unknown identity target kind '{target}'", code="BadTarget",
                          fix="use vm, vmss or container-group")
    if kind == "containerGroup":
        from .container_identity import ContainerGroupIdentityStep
        return ContainerGroupIdentityStep(name, resource_group, mode, system=system, users=users,
                                          identity_group=identity_group, confirm=confirm, gone_ok=gone_ok)
    return ComputeIdentityStep(kind, name, resource_group, mode, system=system, users=users,
                               identity_group=identity_group, upgrade_instances=upgrade_instances,
                               gone_ok=gone_ok)


def attach_step(target, identity: str, identity_group: str | None, *, present: bool = True,
                upgrade_instances: bool = False, confirm: Callable | None = None):
    """For ``up``/``down`` (the attachment kind below): attach (``present``) or detach one
    user-assigned identity; on ``down`` a target that no longer exists counts as detached.

    ``target`` is a ``spec.Target`` (kind vm | vmss | container-group, name, resource_group)."""
    return identity_step(target.kind, target.name, target.resource_group or identity_group,
                         "enable" if present else "disable", users=[identity],
                         identity_group=identity_group, upgrade_instances=upgrade_instances,
                         confirm=confirm, gone_ok=not present)


# --- the step kind (steps/registry.py): identities attached to VMs, scale sets, container groups ----
def _steps(spec, ctx: BuildContext):
    # NOTE: a container group has no identity PATCH: attaching re-sends the whole group and restarts
    # its containers (Azure Container Instances: "Update containers in Azure Container Instances"),
    # so ``ctx.confirm(change)`` is asked first.
    for i, ident in enumerate(spec.identities):
        for target in ident.assign_to:
            yield (0, i), f"identity {ident.name}", attach_step(
                target, ident.name, ident.resource_group, present=ctx.present, confirm=ctx.confirm,
                upgrade_instances=ctx.upgrade_instances)


async def _check(spec, session) -> None:
    """A target given by resource id is in the run's subscription (the steps act in it)."""
    for ident in spec.identities:
        for target in ident.assign_to:
            sub = (target.resource_id or "").split("/")[2:3]
            if sub and sub[0].lower() != session.subscription_id.lower():
                raise usage_error(f"identity {ident.name}: target {target.resource_id} is in subscription "
                                  f"{sub[0]}, not in {session.subscription_id}", code="OtherSubscription",
                                  fix="declare that target in a file run with --subscription " + sub[0])


_TARGET_OF_KIND = {"vmIdentity": "vm", "vmssIdentity": "vmss", "containerGroupIdentity": "container-group"}


def _export(values: dict, change: Change) -> None:
    """``values["targets"]["vm:myvm"]``: the identities the target holds (after ``up``), so that the
    handover (cli/bootstrap.py) knows whether ``exec`` there must name the identity."""
    target = _TARGET_OF_KIND.get(change.kind)
    after = change.after if isinstance(change.after, dict) else None
    if target is None or after is None:
        return
    kinds = {p.strip().lower() for p in str(after.get("type") or "").split(",")}
    values.setdefault("targets", {})[f"{target}:{change.name}".lower()] = {
        "userAssigned": sorted(str(rid).lower() for rid in after.get("userAssigned") or ()),
        "systemAssigned": "systemassigned" in kinds}


STEP = StepKind("identityAttachment", section="identity.assign_to", steps=_steps, phase=1, down_phase=3,
                check=_check, export=_export,
                labels={"vmIdentity": "identity attached", "vmssIdentity": "identity attached",
                        "containerGroupIdentity": "identity attached"},
                needs=("ARM Microsoft.Compute/virtualMachines/write or virtualMachineScaleSets/write "
                       "(Virtual Machine Contributor), Microsoft.ContainerInstance/containerGroups/write "
                       "(Contributor)",
                       "ARM Microsoft.ManagedIdentity/userAssignedIdentities/assign/action "
                       "(Managed Identity Operator on the identity)"))
