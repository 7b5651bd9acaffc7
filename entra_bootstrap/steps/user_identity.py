"""Step: a user-assigned managed identity (Microsoft.ManagedIdentity/userAssignedIdentities), created
or updated with ARM's create-or-update PUT.

Managed fields: the identity itself, its location (given or the resource group's, only at
creation: a resource cannot move), and its tags only when the user gives some (ARM's PUT replaces
the whole tag set; with no tags given, tags are not managed and no write happens for them).
principalId and clientId are fixed by Azure at creation and never change on update.
With ``present=False`` (``down``) the identity is deleted if it exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..clients.arm import IdentityRef, arm, parse_identity_ref
from ..engine import BuildContext, Change, StepKind, planned
from ..errors import api_error
from .lookups import (UserAssignedIdentity, find_resource_group, find_user_assigned_identity,
                      remember_user_assigned_identity)

KIND = "userAssignedIdentity"


def _ids(identity: dict) -> dict[str, str]:
    props = identity.get("properties") or {}
    return {"principalId": props.get("principalId", ""), "clientId": props.get("clientId", ""),
            "tenantId": props.get("tenantId", ""), "id": identity.get("id", "")}


@dataclass
class UserIdentityStep:
    """The identity ``name`` (with ``resource_group``) or a full resource id."""

    name: str
    resource_group: str | None = None
    location: str | None = None
    tags: dict[str, str] | None = None       # None or empty: tags are not managed
    present: bool = True
    kind: str = KIND
    ref: IdentityRef | None = field(default=None, init=False)
    result: UserAssignedIdentity | None = field(default=None, init=False)
    _location: str | None = field(default=None, init=False)

    async def plan(self, session) -> list[Change]:
        self.ref = parse_identity_ref(self.name, self.resource_group, session.subscription_id)
        current = await find_user_assigned_identity(session, self.ref, missing_ok=True)
        if not self.present:
            if current is None:
                return [Change(KIND, self.ref.name, "unchanged", ids={"id": self.ref.id},
                               reason="does not exist")]
            return [Change(KIND, self.ref.name, "delete", ids=_ids(current), reason="not wanted")]
        if current is None:
            # Later steps of a plan (attach, federation) see the identity as PLANNED, not missing.
            remember_user_assigned_identity(session, self.ref,
                                            planned(id=self.ref.id, name=self.ref.name))
            self._location = self.location or \
                (await find_resource_group(session, self.ref.resource_group))["location"]
            reason = f"new, in {self._location}" + ("" if self.location else " (the resource group's location)")
            return [Change(KIND, self.ref.name, "create", ids={"id": self.ref.id}, reason=reason,
                           after={"location": self._location, "tags": self.tags or {}})]
        self.result = UserAssignedIdentity.from_arm(self.ref, current)
        self._location = current["location"]
        if self.location and self.location.replace(" ", "").lower() != current["location"].lower():
            raise api_error(f"the user-assigned identity '{self.ref.name}' already exists in "
                            f"{current['location']}, not {self.location}", code="InvalidResourceLocation",
                            object=f"user-assigned identity '{self.ref.id}'",
                            fix=f"drop -l, or pass -l {current['location']}, or choose another name "
                                "(a resource cannot move to another region)")
        have = current.get("tags") or {}
        if self.tags and self.tags != have:
            return [Change(KIND, self.ref.name, "update", ids=_ids(current), fields=("tags",),
                           reason="tags differ", before={"tags": have}, after={"tags": self.tags})]
        return [Change(KIND, self.ref.name, "unchanged", ids=_ids(current), reason="exists as wanted")]

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        out = []
        for change in changes:
            if not change.changed:
                out.append(change)
                continue
            if change.action == "delete":
                await arm(session).delete_identity(self.ref)
                remember_user_assigned_identity(session, self.ref, None)
                change.applied = True
                out.append(change)
                continue
            body = {"location": self._location, "tags": change.after["tags"]}
            saved, created = await arm(session).put_identity(self.ref, body)
            remember_user_assigned_identity(session, self.ref, saved)
            self.result = UserAssignedIdentity.from_arm(self.ref, saved)
            if change.action == "create" and not created:
                # Another run created it between this run's read and its write: say so, never a
                # second "created" for one identity (ARM answered 200, not 201).
                change = Change(KIND, change.name, "unchanged", reason="created meanwhile by another run")
            change.ids = _ids(saved)
            change.applied = True
            out.append(change)
        return out


# --- the step kind (steps/registry.py) ----------------------------------------------------------
def _steps(spec, ctx: BuildContext):
    for i, ident in enumerate(spec.identities):
        yield (0, i), f"identity {ident.name}", UserIdentityStep(
            ident.name, ident.resource_group, location=ident.location, tags=dict(ident.tags),
            present=ctx.present)


def _export(values: dict, change: Change) -> None:
    if change.ids.get("principalId"):
        values["identities"][change.name] = {k: change.ids.get(k) for k in ("clientId", "principalId", "id")}


STEP = StepKind(KIND, section="identity", steps=_steps, phase=1, down_phase=3,
                labels={KIND: "identity exists"}, export=_export,
                needs=("ARM Microsoft.ManagedIdentity/userAssignedIdentities/write "
                       "(Managed Identity Contributor on the resource group)",))
