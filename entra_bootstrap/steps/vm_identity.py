"""Step: the managed identities of a virtual machine or a VM scale set (ARM identity PATCH).

NOTE: FACTS.md "Azure Resource Manager": a PATCH with ``type: SystemAssigned`` drops every
user-assigned identity, so the step reads the resource first and sends the combined type of what
is there and what is wanted. ``userAssignedIdentities`` in a PATCH is merged by ARM (``{}`` adds,
``null`` removes one), so only the identities that change are named: the operator then needs
Managed Identity Operator only on the identities it attaches, not on those already there.
When the resulting type has no UserAssigned, the map is left out (ARM refuses ids with such a type).

Scale sets: with ``upgradePolicy.mode = Manual`` a model change reaches running instances only when
they are upgraded; the step says so, and upgrades them with ``upgrade_instances``.

``Attached`` and ``IdentityPlan`` (what is attached, what is wanted) are shared with the container
group step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..clients.arm import IdentityRef, arm, parse_identity_ref
from ..engine import BuildContext, Change, StepKind
from ..errors import api_error, usage_error
from .lookups import find_user_assigned_identity

TARGETS = {"vm": ("virtual machine", "Microsoft.Compute/virtualMachines"),
           "vmss": ("scale set", "Microsoft.Compute/virtualMachineScaleSets"),
           "containerGroup": ("container group", "Microsoft.ContainerInstance/containerGroups")}


@dataclass(frozen=True)
class Attached:
    """The identities a resource holds, keyed by lower-cased identity resource id."""

    system_principal: str | None
    tenant_id: str | None
    users: dict[str, dict]          # lower id -> {"id", "principalId", "clientId"}

    @classmethod
    def of(cls, resource: dict) -> "Attached":
        identity = resource.get("identity") or {}
        kinds = {p.strip().lower() for p in str(identity.get("type") or "None").split(",")}
        system = identity.get("principalId") if "systemassigned" in kinds else None
        users = {}
        if "userassigned" in kinds:
            for rid, value in (identity.get("userAssignedIdentities") or {}).items():
                value = value or {}
                users[rid.lower()] = {"id": rid, "principalId": value.get("principalId", ""),
                                      "clientId": value.get("clientId", "")}
        return cls(system or None, identity.get("tenantId") if system else None, users)

    def rows(self) -> list[dict]:
        out = []
        if self.system_principal:
            out.append({"type": "SystemAssigned", "name": "(system)", "principalId": self.system_principal,
                        "clientId": "", "id": ""})
        for u in self.users.values():
            out.append({"type": "UserAssigned", "name": u["id"].rsplit("/", 1)[-1],
                        "principalId": u["principalId"], "clientId": u["clientId"], "id": u["id"]})
        return out

    def as_dict(self) -> dict:
        return {"systemAssigned": ({"principalId": self.system_principal, "tenantId": self.tenant_id}
                                   if self.system_principal else None),
                "userAssigned": [{"id": u["id"], "principalId": u["principalId"], "clientId": u["clientId"]}
                                 for u in self.users.values()]}


def type_text(system: bool, users: bool) -> str:
    if system and users:
        return "SystemAssigned, UserAssigned"
    return "SystemAssigned" if system else ("UserAssigned" if users else "None")


@dataclass
class IdentityPlan:
    """What to change on one resource: the wanted state and the difference."""

    system: bool                      # wanted: system-assigned on?
    users: dict[str, str]             # wanted: lower id -> id (as ARM spells it)
    add: list[str]                    # identity ids to attach
    remove: list[str]                 # identity ids to detach (as attached)
    system_change: str | None         # "enable" | "disable" | None
    skipped: list[str] = field(default_factory=list)   # why a named identity needs nothing

    @property
    def changed(self) -> bool:
        return bool(self.add or self.remove or self.system_change)

    def reason(self) -> str:
        parts = []
        if self.system_change:
            parts.append(f"{self.system_change} system-assigned")
        parts += [f"attach {i.rsplit('/', 1)[-1]}" for i in self.add]
        parts += [f"detach {i.rsplit('/', 1)[-1]}" for i in self.remove]
        return "; ".join(parts) if parts else "; ".join(self.skipped) or "nothing to change"

    @property
    def type(self) -> str:
        return type_text(self.system, bool(self.users))


def plan_identity(current: Attached, mode: str, system: bool, users: dict[str, str]) -> IdentityPlan:
    """``users``: lower id -> canonical id of the identities the user named."""
    if mode == "enable":
        want_system = bool(current.system_principal) or system
        add = [rid for key, rid in users.items() if key not in current.users]
        skipped = [f"{rid.rsplit('/', 1)[-1]} already attached" for key, rid in users.items()
                   if key in current.users]
        if system and current.system_principal:
            skipped.insert(0, "system-assigned already enabled")
        wanted = {k: v["id"] for k, v in current.users.items()} | {rid.lower(): rid for rid in add}
        return IdentityPlan(want_system, wanted, add, [],
                            "enable" if want_system and not current.system_principal else None, skipped)
    want_system = bool(current.system_principal) and not system
    remove = [current.users[key]["id"] for key in users if key in current.users]
    skipped = [f"{rid.rsplit('/', 1)[-1]} not attached" for key, rid in users.items()
               if key not in current.users]
    if system and not current.system_principal:
        skipped.insert(0, "system-assigned not enabled")
    wanted = {k: v["id"] for k, v in current.users.items() if k not in users}
    return IdentityPlan(want_system, wanted, [], remove,
                        "disable" if current.system_principal and not want_system else None, skipped)


def check_outcome(result: dict, plan: IdentityPlan, obj: str) -> Attached:
    """Re-read check: what ARM holds after the write must be what was wanted."""
    got = Attached.of(result)
    if bool(got.system_principal) != plan.system or set(got.users) != set(plan.users):
        raise api_error(f"after the update, {obj} holds identities {type_text(bool(got.system_principal), bool(got.users))} "
                        f"{sorted(u['id'] for u in got.users.values())}, not what was asked",
                        code="UnexpectedIdentityState", object=obj,
                        fix="run `identity show` and the command again; report this if it persists")
    return got


def identity_refs(session, values: Sequence[str], resource_group: str | None) -> list[IdentityRef]:
    """Names (in ``resource_group``) or resource ids; exit 2 for a malformed one (no request made)."""
    return [parse_identity_ref(v, resource_group, session.subscription_id) for v in values]


async def wanted_user_identities(session, mode: str, refs: list[IdentityRef]) -> dict[str, str]:
    """Enable: each identity must exist (read once; its canonical id is used). Disable: ids only."""
    out: dict[str, str] = {}
    for ref in refs:
        if mode == "enable":
            body = await find_user_assigned_identity(session, ref)
            rid = body.get("id") or ref.id
        else:
            rid = ref.id
        out[rid.lower()] = rid
    return out


def change_ids(attached: Attached) -> dict[str, str]:
    return {"principalId": attached.system_principal} if attached.system_principal else {}


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
        self._resource = await client.get_compute(self.target, self.resource_group, self.name, self.obj)
        users = await wanted_user_identities(session, self.mode, refs)
        current = Attached.of(self._resource)
        self.attached = current
        self._plan = plan_identity(current, self.mode, self.system, users)
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

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        client = arm(session)
        out = []
        for change in changes:
            if change.kind == self.kind and change.changed:
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


TARGET_KINDS = {"vm": "vm", "vmss": "vmss", "container-group": "containerGroup",
                "containerGroup": "containerGroup"}


def identity_step(target: str, name: str, resource_group: str, mode: str, *, system: bool = False,
                  users: Sequence[str] = (), identity_group: str | None = None,
                  upgrade_instances: bool = False, confirm: Callable | None = None):
    """The step for a VM, scale set or container group (``target`` vm | vmss | container-group)."""
    kind = TARGET_KINDS.get(target)
    if kind is None:
        raise usage_error(f"unknown identity target kind '{target}'", code="BadTarget",
                          fix="use vm, vmss or container-group")
    if kind == "containerGroup":
        from .container_identity import ContainerGroupIdentityStep
        return ContainerGroupIdentityStep(name, resource_group, mode, system=system, users=users,
                                          identity_group=identity_group, confirm=confirm)
    return ComputeIdentityStep(kind, name, resource_group, mode, system=system, users=users,
                               identity_group=identity_group, upgrade_instances=upgrade_instances)


def attach_step(target, identity: str, identity_group: str | None, *, present: bool = True,
                upgrade_instances: bool = False, confirm: Callable | None = None):
    """For ``up``/``down`` (bootstrap.py): attach (``present``) or detach one user-assigned identity.

    ``target`` is a ``spec.Target`` (kind vm | vmss | container-group, name, resource_group)."""
    return identity_step(target.kind, target.name, target.resource_group or identity_group,
                         "enable" if present else "disable", users=[identity],
                         identity_group=identity_group, upgrade_instances=upgrade_instances,
                         confirm=confirm)


# --- the step kind (steps/registry.py): identities attached to VMs, scale sets, container groups ----
def _steps(spec, ctx: BuildContext):
    # NOTE: a container group has no identity PATCH: attaching re-sends the whole group and restarts
    # its containers (Azure Container Instances: "Update containers in Azure Container Instances"),
    # so ``ctx.confirm(change)`` is asked first.
    for i, ident in enumerate(spec.identities):
        for target in ident.assign_to:
            yield (0, i), f"identity {ident.name}", attach_step(
                target, ident.name, ident.resource_group, present=ctx.present, confirm=ctx.confirm)


async def _check(spec, session) -> None:
    """A target given by resource id is in the run's subscription (the steps act in it)."""
    for ident in spec.identities:
        for target in ident.assign_to:
            sub = (target.resource_id or "").split("/")[2:3]
            if sub and sub[0].lower() != session.subscription_id.lower():
                raise usage_error(f"identity {ident.name}: target {target.resource_id} is in subscription "
                                  f"{sub[0]}, not in {session.subscription_id}", code="OtherSubscription",
                                  fix="declare that target in a file run with --subscription " + sub[0])


STEP = StepKind("identityAttachment", section="identity.assign_to", steps=_steps, phase=1, down_phase=3,
                check=_check,
                labels={"vmIdentity": "identity attached", "vmssIdentity": "identity attached",
                        "containerGroupIdentity": "identity attached"},
                needs=("ARM Microsoft.Compute/virtualMachines/write or virtualMachineScaleSets/write "
                       "(Virtual Machine Contributor), Microsoft.ContainerInstance/containerGroups/write "
                       "(Contributor)",
                       "ARM Microsoft.ManagedIdentity/userAssignedIdentities/assign/action "
                       "(Managed Identity Operator on the identity)"))
