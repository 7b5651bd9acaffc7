"""What attaching identities to a VM, a scale set or a container group share: what a resource
holds (``Attached``), what to change (``IdentityPlan``, ``plan_identity``), the identities the user
names (``identity_refs``, ``wanted_user_identities``) and the re-read check after the write
(``check_outcome``). Used by steps/vm_identity.py (VMs, scale sets: an identity PATCH) and
steps/container_identity.py (container groups: a PUT of the whole group); neither imports the other
for these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..clients.arm import IdentityRef, parse_identity_ref
from ..engine import Change, is_planned
from ..errors import api_error, not_found
from .lookups import find_user_assigned_identity

TARGETS = {"vm": ("virtual machine", "Microsoft.Compute/virtualMachines"),
           "vmss": ("scale set", "Microsoft.Compute/virtualMachineScaleSets"),
           "containerGroup": ("container group", "Microsoft.ContainerInstance/containerGroups")}
# How the commands and the bootstrap file name a target kind -> the TARGETS key.
TARGET_KINDS = {"vm": "vm", "vmss": "vmss", "container-group": "containerGroup",
                "containerGroup": "containerGroup"}


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
    reattach: dict[str, str] = field(default_factory=dict)  # id -> why: attached, but a dead principal

    @property
    def changed(self) -> bool:
        return bool(self.add or self.remove or self.system_change)

    def reason(self) -> str:
        parts = []
        if self.system_change:
            parts.append(f"{self.system_change} system-assigned")
        parts += [f"re-attach {i.rsplit('/', 1)[-1]} ({why})" for i, why in self.reattach.items()]
        parts += [f"attach {i.rsplit('/', 1)[-1]}" for i in self.add if i not in self.reattach]
        parts += [f"detach {i.rsplit('/', 1)[-1]}" for i in self.remove]
        return "; ".join(parts) if parts else "; ".join(self.skipped) or "nothing to change"

    @property
    def type(self) -> str:
        return type_text(self.system, bool(self.users))


def plan_identity(current: Attached, mode: str, system: bool, users: dict[str, str],
                  principals: dict[str, str | None] | None = None) -> IdentityPlan:
    """``users``: lower id -> canonical id of the identities the user named; ``principals``: lower
    id -> the identity's principal id now (None: it does not exist yet). An identity attached under a
    principal id it no longer has (deleted, or deleted and created again under the same name) gives
    no token on the resource: it is re-attached (detach, then attach)."""
    principals = principals or {}
    if mode == "enable":
        want_system = bool(current.system_principal) or system
        reattach = {rid: _dead_because(current.users[key].get("principalId"), principals[key])
                    for key, rid in users.items() if key in current.users and key in principals
                    and principals[key] != current.users[key].get("principalId")}
        add = [rid for key, rid in users.items() if key not in current.users or rid in reattach]
        skipped = [f"{rid.rsplit('/', 1)[-1]} already attached" for key, rid in users.items()
                   if key in current.users and rid not in reattach]
        if system and current.system_principal:
            skipped.insert(0, "system-assigned already enabled")
        wanted = {k: v["id"] for k, v in current.users.items()} | {rid.lower(): rid for rid in add}
        return IdentityPlan(want_system, wanted, add, [],
                            "enable" if want_system and not current.system_principal else None, skipped,
                            reattach)
    want_system = bool(current.system_principal) and not system
    remove = [current.users[key]["id"] for key in users if key in current.users]
    skipped = [f"{rid.rsplit('/', 1)[-1]} not attached" for key, rid in users.items()
               if key not in current.users]
    if system and not current.system_principal:
        skipped.insert(0, "system-assigned not enabled")
    wanted = {k: v["id"] for k, v in current.users.items() if k not in users}
    return IdentityPlan(want_system, wanted, [], remove,
                        "disable" if current.system_principal and not want_system else None, skipped)


def _dead_because(held: str | None, now: str | None) -> str:
    if now is None:
        return f"identity deleted: the resource holds principal {held}, which no longer exists"
    return f"identity recreated: the resource holds principal {held}, the identity is now {now}"


def detach_first(current: Attached, plan: IdentityPlan) -> tuple[str, dict[str, str]]:
    """The identity type and user-assigned ids left after detaching what is re-attached (the first of
    a re-attachment's two writes)."""
    left = {k: v["id"] for k, v in current.users.items() if v["id"] not in plan.reattach}
    return type_text(bool(current.system_principal), bool(left)), left


async def identity_principals(session, mode: str, refs: list[IdentityRef]) -> dict[str, str | None]:
    """Enable: the principal id each named identity has now (None while it is only planned);
    read through the run's cache, so no request is added."""
    if mode != "enable":
        return {}
    out: dict[str, str | None] = {}
    for ref in refs:
        body = await find_user_assigned_identity(session, ref)
        principal = None if is_planned(body) else ((body or {}).get("properties") or {}).get("principalId")
        out[(body.get("id") or ref.id).lower()] = principal
    return out


def check_outcome(result: dict, plan: IdentityPlan, obj: str) -> Attached:
    """Re-read check: what ARM holds after the write must hold what this write asked for - the
    system-assigned identity as wanted, every attached identity in, every detached one out. Other
    identities may differ: another run may have attached or detached its own meanwhile (PATCH
    merges), and that is not this run's failure."""
    got = Attached.of(result)
    added = {rid.lower() for rid in plan.add}
    removed = {rid.lower() for rid in plan.remove}
    system_ok = plan.system_change is None or bool(got.system_principal) == plan.system
    if not system_ok or not added <= set(got.users) or removed & set(got.users):
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


async def refuse_unknown_detach(session, refs: list[IdentityRef], attached: "Attached", obj: str) -> None:
    """``identity disable --user-assigned NAME``: a NAME that is neither attached nor an existing
    identity is a typo, not "nothing to do" (exit 4). An attached identity that was deleted since is
    still detached."""
    for ref in refs:
        if ref.id.lower() in attached.users:
            continue
        if await find_user_assigned_identity(session, ref, missing_ok=True) is None:
            raise not_found(f"no user-assigned identity '{ref.name}' in resource group '{ref.resource_group}', "
                            f"and none by that name is attached to the {obj}", code="ResourceNotFound",
                            object=f"user-assigned identity '{ref.id}'",
                            fix="check the name and -g (entra-bootstrap identity show --vm/--vmss/"
                                "--container-group NAME -g RG lists what is attached)")


def change_ids(attached: Attached) -> dict[str, str]:
    return {"principalId": attached.system_principal} if attached.system_principal else {}


def gone(kind: str, name: str) -> Change:
    """Detaching from a resource that no longer exists: nothing to do (``down`` goes on)."""
    return Change(kind, name, "unchanged", reason="the resource no longer exists: nothing to detach")
