"""Azure role assignments (Microsoft.Authorization/roleAssignments) of a managed identity or of an
application's service principal, idempotent by (principal, role, scope).

- The role is a built-in (or custom) role's name or a role definition id (spec/rules.check_role),
  resolved once per run at the subscription (``role_definition``); an unknown role is exit 2 with
  the closest role names, found by the kind's read-only ``check`` before any write.
- The scope is ``subscription``, ``resource_group:NAME`` or a resource id (check_role_scope).
- The assignment's name is deterministic (``assignment_name``: UUID5 of scope, role definition
  GUID and principal id), so a PUT repeated after a lost answer cannot make a second assignment.
- Before writing, the principal's assignments at the scope are read (``$filter=principalId eq``):
  the same role under another name (made by the portal, the Azure CLI, Terraform) is adopted, not
  duplicated; a 409 ``RoleAssignmentExists`` answered anyway (a race) is re-read and adopted too.
- ``principalType: ServicePrincipal`` is sent (managed identities and applications are service
  principals), so a just-created identity is not refused while it replicates ("Assign Azure roles
  using the REST API"); a ``PrincipalNotFound`` that comes anyway is retried (clients/retry.py).
- In a file, an identity's or app's principal exists only once its phase-1 step ran: the step
  reads it from the session (steps/lookups.py); in plan mode it is ``planned(...)``, and the
  assignment is "create: after the identity is created".
- ``down`` removes the assignment the file declares (under whatever name it has).

Two step kinds, one per parent of the file: ``[[identity.role_assignment]]`` (``STEP``) and
``[[app.role_assignment]]`` (``APP_STEP``); steps/registry.py lists both (``KINDS``).
"""

from __future__ import annotations

import uuid
from difflib import get_close_matches

from ..clients.arm import parse_identity_ref
from ..clients.arm_authorization import authorization
from ..engine import BuildContext, Change, StepKind, is_planned
from ..errors import api_error, not_found, usage_error
from ..spec import Section
from ..spec.rules import check_role, check_role_assignment, check_role_scope
from .application import app_name, app_parts
from .lookups import (find_resource_group, find_service_principal, find_user_assigned_identity,
                      require_application, resolve_managed_identity)

KIND = "roleAssignment"
PRINCIPAL_TYPE = "ServicePrincipal"
KEY = "role_assignment"
NEEDS = ("ARM Microsoft.Authorization/roleAssignments/write (User Access Administrator or Owner on the "
         "scope)",)


def assignment_name(scope: str, role_guid: str, principal_id: str) -> str:
    """The deterministic name of an assignment: UUID5 in the URL namespace (uuid.NAMESPACE_URL,
    RFC 4122) of "SCOPE|ROLE_DEFINITION_GUID|PRINCIPAL_ID", lower-cased."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{role_guid}|{principal_id}".lower()))


def scope_path(scope: tuple[str, str | None], subscription_id: str) -> str:
    kind, value = scope
    if kind == "subscription":
        return f"/subscriptions/{subscription_id}"
    if kind == "resource_group":
        return f"/subscriptions/{subscription_id}/resourceGroups/{value}"
    return value


def _guid_of(role_definition_id: str) -> str:
    return (role_definition_id or "").rstrip("/").rsplit("/", 1)[-1].lower()


async def role_definition(session, role: str) -> dict:
    """The role definition ``role`` names (memoised; exit 2 with the closest names when unknown)."""
    kind, value = check_role(role)
    key = ("role", value.lower())
    if key in session.memo:
        return session.memo[key]
    ops = authorization(session)
    scope = f"/subscriptions/{session.subscription_id}"
    found = await (ops.get_role_definition(scope, value) if kind == "id"
                   else ops.get_role_definition_by_name(scope, value))
    if found is None:
        names = [d["roleName"] for d in await ops.list_role_definitions(scope) if d.get("roleName")]
        lower = {n.lower(): n for n in names}
        close = [lower[n] for n in get_close_matches(value.lower(), list(lower), n=3, cutoff=0.5)]
        what = "role definition id" if kind == "id" else "role"
        raise usage_error(f"'{role}' is not a {what} of this subscription", code="UnknownRole",
                          object=f"role '{role}'",
                          fix=(f"did you mean {', '.join(close)}?" if close else
                               "give a built-in role name (e.g. Reader, Contributor, 'Storage Blob Data "
                               "Reader') or a role definition id"))
    session.memo[key] = found
    session.memo[("role", found["name"].lower())] = found
    return found


class RoleAssignmentStep:
    """Ensure ``role`` is assigned at ``scope`` to a managed identity (``identity``, with
    ``resource_group``) or to the service principal of the application ``app_ref`` (or, with
    ``present=False``, that it is not)."""

    kind = KIND

    def __init__(self, role: str, scope: str, *, identity: str | None = None,
                 resource_group: str | None = None, app_ref: str | None = None, present: bool = True):
        self.role, self.scope_raw = role.strip(), scope.strip()
        self.scope_parsed = check_role_scope(scope)
        check_role(role)
        self.identity, self.resource_group, self.app_ref = identity, resource_group, app_ref
        self.present = present
        self.scope = ""
        self.principal_id = ""
        self.definition: dict | None = None
        self.current: dict | None = None
        self.label = ""

    async def _principal(self, session) -> tuple[str | None, str, str]:
        """(principal id or None when only planned, its label, why it is missing)."""
        if self.identity is not None:
            label = self.identity
            if self.present:
                found = await resolve_managed_identity(session, self.identity, self.resource_group,
                                                       for_federation=False)
                return (None if is_planned(found) else found["principalId"]), label, "the identity"
            ref = parse_identity_ref(self.identity, self.resource_group, session.subscription_id)
            body = await find_user_assigned_identity(session, ref, missing_ok=True)
            if body is None or is_planned(body):
                return None, label, "the identity"
            return (body.get("properties") or {}).get("principalId"), label, "the identity"
        app = await require_application(session, self.app_ref)
        label = app_name(app, self.app_ref)
        if is_planned(app):
            return None, label, "the service principal"
        sp = await find_service_principal(session, app["appId"], retry=True)
        if sp is None and self.present:
            raise not_found(f"the application '{label}' has no service principal: a role is assigned to "
                            "its service principal", code="ServicePrincipalNotFound",
                            object=f"application '{label}'",
                            fix=f"create it first: entra-bootstrap sp create --app {self.app_ref}")
        if sp is None or is_planned(sp):
            return None, label, "the service principal"
        return sp["id"], label, "the service principal"

    def _ids(self, ra: dict | None = None) -> dict[str, str]:
        out = {"scope": self.scope}
        if self.definition:
            out["roleDefinitionId"] = self.definition["id"]
        if self.principal_id:
            out["principalId"] = self.principal_id
        if ra:
            out.update({"id": ra["id"], "name": ra["name"]})
        return out

    async def plan(self, session) -> list[Change]:
        self.scope = scope_path(self.scope_parsed, session.subscription_id)
        principal, who, missing = await self._principal(session)
        self.definition = await role_definition(session, self.role)
        self.label = f"{who}: {self.definition.get('roleName') or self.role} on {self.scope_raw}"
        if principal is None:
            if self.present:
                return [Change(KIND, self.label, "create", self._ids(), reason=f"after {missing} is created")]
            return [Change(KIND, self.label, "unchanged", self._ids(), reason=f"{missing} does not exist")]
        self.principal_id = principal.lower()
        self.current = await self._read(session)
        if self.present:
            if self.current is None:
                return [Change(KIND, self.label, "create", self._ids(), reason="not assigned")]
            wanted = assignment_name(self.scope, self.definition["name"], self.principal_id)
            reason = "assigned" if self.current["name"] == wanted else \
                f"assigned under the name {self.current['name']} (adopted)"
            return [Change(KIND, self.label, "unchanged", self._ids(self.current), reason=reason)]
        if self.current is None:
            return [Change(KIND, self.label, "unchanged", self._ids(), reason="not assigned")]
        return [Change(KIND, self.label, "delete", self._ids(self.current), reason="removal requested")]

    async def _read(self, session) -> dict | None:
        """The principal's assignment of this role at exactly this scope (any name), or None."""
        found = await authorization(session).list_role_assignments(self.scope, self.principal_id)
        role = self.definition["name"].lower()
        return next((ra for ra in found if (ra.get("scope") or "").lower() == self.scope.lower()
                     and _guid_of(ra.get("roleDefinitionId")) == role), None)

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        change = changes[0]
        ops = authorization(session)
        if change.action == "delete":
            await ops.delete_role_assignment(self.current["id"])
            change.applied = True
            return [change]
        name = assignment_name(self.scope, self.definition["name"], self.principal_id)
        made = await ops.create_role_assignment(self.scope, name, self.definition["id"], self.principal_id,
                                                PRINCIPAL_TYPE)
        if made is None:               # 409 RoleAssignmentExists: made meanwhile, under some name
            made = await self._read(session)
            if made is None:
                raise api_error(f"Azure says the role assignment {change.name} exists, but it is not "
                                f"at {self.scope}", code="RoleAssignmentExists", object=change.name,
                                fix="list it with `entra-bootstrap role list` and run the command again")
            change.reason = f"assigned meanwhile under the name {made['name']} (adopted)"
        self.current = made
        change.ids = self._ids(made)
        change.after = made
        change.applied = True
        return [change]


# --- the file: [[identity.role_assignment]] and [[app.role_assignment]] -------------------------
def _section(parent: str) -> Section:
    return Section(parent, KEY, {"role": "str", "scope": "str"}, required=("role", "scope"),
                   check=check_role_assignment)


def _identity_steps(spec, ctx: BuildContext):
    for i, ident in enumerate(spec.identities):
        for entry in ident.part(KEY):
            yield (2, i), f"identity {ident.name} roles", RoleAssignmentStep(
                entry["role"], entry["scope"], identity=ident.name, resource_group=ident.resource_group,
                present=ctx.present)


def _app_steps(spec, ctx: BuildContext):
    return app_parts(spec, ctx, lambda app: app.part(KEY),
                     lambda app, entry: RoleAssignmentStep(entry["role"], entry["scope"],
                                                           app_ref=app.unique_name, present=ctx.present),
                     links=True)


async def _check(spec, session) -> None:
    """Before any write: every role the file names exists, every resource group scope exists."""
    for owner in (*spec.identities, *spec.apps):
        for entry in owner.part(KEY):
            await role_definition(session, entry["role"])
            kind, value = check_role_scope(entry["scope"])
            if kind == "resource_group":
                await find_resource_group(session, value)


STEP = StepKind(KIND, section="identity.role_assignment", steps=_identity_steps, phase=2, down_phase=1,
                check=_check, labels={KIND: "role assigned"}, needs=NEEDS,
                file_section=_section("identity"))
APP_STEP = StepKind(KIND, section="app.role_assignment", steps=_app_steps, phase=2, down_phase=1,
                    labels={KIND: "role assigned"}, needs=NEEDS, file_section=_section("app"))
KINDS = (STEP, APP_STEP)

