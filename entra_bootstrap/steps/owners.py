"""Owners of the application: read the owners first, then add or remove one directory object.

Add: ``add_owner`` (Microsoft Graph: Add owners); adding an existing owner fails ("One or more
added object references already exist"), so the owners are read first, and that error after a
lost response is accepted (the operation treats it as done).
Remove: ``remove_owner`` (Microsoft Graph: Remove owner).

NOTE: ownership lets the identity *manage* the app (e.g. with Application.ReadWrite.OwnedBy:
"Microsoft Graph permissions reference"); it does not let it get tokens for the app. Only a
federated identity credential does that (Microsoft Entra: "Workload identity federation").
``OWNERSHIP_NOTE`` says so with every owner change.
"""

from __future__ import annotations

from ..clients.retry import wait_for_consistency
from ..clients.graph_ops import PERMISSIONS
from ..engine import BuildContext, Change, StepKind, is_planned
from ..errors import not_found
from .common import identity_label
from .lookups import require_application, resolve_managed_identity
from .application import app_name, app_parts

KIND = "owner"
OWNERSHIP_NOTE = ("ownership lets the principal manage the application (e.g. with "
                  "Application.ReadWrite.OwnedBy); it does not let it get tokens for the application - "
                  "only a federated identity credential does (entra-bootstrap federation add)")


async def require_principal(session, principal_id: str, label: str) -> dict:
    """The directory object (exit 4 when it does not exist; re-read a few times: it may be new)."""
    async def read():
        return await session.graph_ops.get_directory_object(principal_id, label)

    principal = await wait_for_consistency(session.retry, read)
    if principal is None:
        raise not_found(f"no principal (user, group or service principal) with object id {principal_id}",
                        code="PrincipalNotFound", object=f"principal {label}",
                        fix="give the object (principal) id of an existing user, group or service "
                            "principal, e.g. a managed identity's principalId")
    return principal


class OwnerStep:
    """Ensure ``principal_id`` is (``present``) or is not an owner of the application."""

    kind = KIND

    def __init__(self, app_ref: str, principal_id: str | None = None, *, identity: str | None = None,
                 resource_group: str | None = None, present: bool = True,
                 principal_label: str | None = None):
        """``principal_id`` (an object id) or ``identity`` (a user-assigned identity's name with
        ``resource_group``, resource id or principal id, resolved when planning)."""
        self.app_ref = app_ref
        self.principal_id = principal_id.lower() if principal_id else ""
        self.identity = identity
        self.resource_group = resource_group
        self.label = principal_label or (identity_label(identity) if identity else principal_id) or ""
        self.present = present
        self.app: dict | None = None

    async def plan(self, session) -> list[Change]:
        self.app = await require_application(session, self.app_ref)
        name = f"{app_name(self.app, self.app_ref)} <- {self.label}"
        if self.identity:
            resolved = await resolve_managed_identity(session, self.identity, self.resource_group,
                                                      for_federation=False)
            if is_planned(resolved):
                action = "create" if self.present else "unchanged"
                return [Change(KIND, name, action, reason="after the identity is created",
                               notes=(OWNERSHIP_NOTE,) if self.present else ())]
            self.principal_id = resolved["principalId"].lower()
        ids = {"principalId": self.principal_id}
        if is_planned(self.app):
            action = "create" if self.present else "unchanged"
            return [Change(KIND, name, action, ids, reason="after the application is created",
                           notes=(OWNERSHIP_NOTE,) if self.present else ())]
        ids = {"appId": self.app["appId"], **ids}
        owners = await session.graph_ops.list_owners(self.app["id"], name, replicating=True)
        is_owner = any((o.get("id") or "").lower() == self.principal_id for o in owners)
        if self.present and not is_owner:
            await require_principal(session, self.principal_id, self.label)
            return [Change(KIND, name, "create", ids, reason="not an owner", notes=(OWNERSHIP_NOTE,))]
        if not self.present and is_owner:
            return [Change(KIND, name, "delete", ids, reason="removal requested")]
        return [Change(KIND, name, "unchanged", ids,
                       reason="already an owner" if self.present else "not an owner",
                       notes=(OWNERSHIP_NOTE,) if self.present else ())]

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        change = changes[0]
        ops = session.graph_ops
        app = app_name(self.app, self.app_ref)
        if change.action == "delete":
            await ops.remove_owner(self.app["id"], self.principal_id, owner=self.label, app_name=app)
        else:
            await ops.add_owner(self.app["id"], self.principal_id, owner=self.label, app_name=app)
        change.applied = True
        return [change]


def owner_step(spec, app_ref: str, owner, *, present: bool = True) -> OwnerStep:
    """The step for one ``owners`` entry of a bootstrap file (spec.OwnerRef: identity | principal)."""
    if owner.kind == "principal":
        return OwnerStep(app_ref, owner.value, present=present)
    rg = None
    if not owner.value.startswith("/"):
        declared = spec.identity(owner.value) if hasattr(spec, "identity") else None
        rg = declared.resource_group if declared else None
    return OwnerStep(app_ref, identity=owner.value, resource_group=rg, present=present)


# --- the step kind (steps/registry.py) ----------------------------------------------------------
def _steps(spec, ctx: BuildContext):
    return app_parts(spec, ctx, lambda app: app.owners,
                     lambda app, o: owner_step(spec, app.unique_name, o, present=ctx.present), links=True)


async def _check(spec, session) -> None:
    """Owners the file names but does not declare (a principal, an identity's resource id) exist."""
    from .lookups import resolve_user_assigned_identity

    for app in spec.apps:
        for owner in app.owners:
            if owner.kind == "principal":
                await require_principal(session, owner.value, owner.value)
            elif owner.value.startswith("/"):
                await resolve_user_assigned_identity(session, owner.value)


STEP = StepKind(KIND, section="app.owners", steps=_steps, phase=2, down_phase=1, check=_check,
                labels={KIND: "owner"}, needs=(PERMISSIONS["owner"],))
