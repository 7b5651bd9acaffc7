"""Direct grants: app roles of an API assigned to a managed identity's own service principal.

For consumers that use the identity's own token (``az login --identity``, the Terraform
microsoft365 provider's ``managed_identity`` mode): the token a resource gets from its metadata
endpoint carries, in its ``roles`` claim, the app roles assigned to the identity's service
principal (Microsoft Entra: "Assign a managed identity access to an application role" - the
Graph way: POST /servicePrincipals/{resource}/appRoleAssignedTo with principalId = the identity's
principalId, resourceId = the API's service principal, appRoleId = the role). A managed identity
has no app registration, so there is no consent to give and no delegated permission (scope) it
can hold: only application permissions.

The diff and the writes are steps/app_roles.py's (shared with admin consent, steps/consent.py);
names resolve against the API's service principal (steps/permissions.py ``resolve``), Microsoft
Graph names are first checked offline against the packaged catalog. Privileged Microsoft Graph
roles (spec/rules.py ``check_privileged_roles``) are refused unless ``allow_privileged``.
An identity declared in the same file is only known after its step ran (plan: "after the
identity is created"); right after it was created its service principal may not have replicated
in Graph yet: the reads and the assignment are retried by the clients (``replicating``,
clients/retry.py ``classify``: 404 and "Not a valid reference update.").

``revoke`` without roles removes every app role the identity holds on that API.
"""

from __future__ import annotations

from ..clients.graph import GRAPH_APP_ID
from ..clients.graph_ops import PERMISSIONS
from ..engine import BuildContext, Change, StepKind, is_planned
from ..errors import CliError
from ..spec import Section
from ..spec import rules
from ..spec.rules import RuleError, check_privileged_roles
from ..spec.toml import default_permission_lookup, unknown_permission
from . import api_app_id
from .app_roles import apply_role, fill_assignment_ids, held_role_ids, role_changes
from .lookups import resolve_managed_identity, resource_service_principal
from .permissions import check_offline, resolve

KIND = "identityAppRoleAssignment"
SCOPE_FIX = ("a managed identity's own token carries application permissions (app roles) only: give "
             "the application permission (e.g. User.Read.All), or use an app with a federated "
             "credential for delegated access")


def check_roles_offline(api: str | None, roles: list[str], allow_privileged: bool) -> str:
    """Before any request (the flags of ``identity grant | revoke``): the API, malformed ids,
    Microsoft Graph names not in the catalog (or delegated scopes), privileged roles. Returns the
    API's client id."""
    api_id = api_app_id(api)
    check_offline(api_id, roles, [], other_fix=SCOPE_FIX)
    if api_id == GRAPH_APP_ID:
        check_privileged_roles(roles, allow_privileged)
    return api_id


class IdentityGrantStep:
    """Ensure the identity holds (``present``) or no longer holds these app roles of one API.

    ``identity``: a user-assigned identity's name (with ``resource_group``) or resource id, or a
    managed identity's principal id. ``roles`` None with ``present=False``: every role held on
    the API. ``gone_ok``: an identity that does not exist holds nothing (``down``)."""

    kind = KIND

    def __init__(self, identity: str, resource_group: str | None, api: str | None,
                 roles: list[str] | None, *, present: bool = True, allow_privileged: bool = False,
                 gone_ok: bool = False):
        self.identity_ref = identity
        self.resource_group = resource_group
        self.api_app_id = api_app_id(api)
        self.roles = list(roles) if roles else None
        self.present = present
        self.allow_privileged = allow_privileged
        self.gone_ok = gone_ok
        self.identity: dict | None = None
        self.plans: list[tuple[Change, dict]] = []

    @property
    def principal_id(self) -> str | None:
        return None if self.identity is None or is_planned(self.identity) else self.identity["principalId"]

    async def plan(self, session) -> list[Change]:
        self.plans = []
        name = self.identity_ref.rstrip("/").rsplit("/", 1)[-1]
        try:
            self.identity = await resolve_managed_identity(session, self.identity_ref, self.resource_group,
                                                           for_federation=False)
        except CliError as err:
            if not (self.gone_ok and err.code in ("ResourceNotFound", "PrincipalNotFound")):
                raise
            return [Change(KIND, name, "unchanged", reason="the identity does not exist")]
        if not is_planned(self.identity):
            name = self.identity.get("name") or name
        resource_sp = await resource_service_principal(session, self.api_app_id)
        api = resource_sp.get("displayName") or self.api_app_id
        perms = resolve(resource_sp, self.roles or [], [], other_fix=SCOPE_FIX)
        if self.present:
            check_privileged_roles([p.name for p in perms if p.api_app_id == GRAPH_APP_ID],
                                   self.allow_privileged)
        if is_planned(self.identity):
            if not self.present:
                return [Change(KIND, name, "unchanged", reason="the identity does not exist")]
            return [Change(KIND, f"{name} -> {api}: {p.name}", "create", {"appRoleId": p.id},
                           reason="after the identity is created") for p in perms]
        ids = {"principalId": self.principal_id}
        assignments = await session.graph_ops.list_app_role_assignments(self.principal_id, name)
        if self.roles is None:
            perms = resolve(resource_sp, held_role_ids(assignments, resource_sp), [])
        self.plans = role_changes(KIND, name, self.principal_id, resource_sp, perms, assignments,
                                  present=self.present, id_key="principalId", held="granted",
                                  missing="not granted")
        if not self.plans:
            return [Change(KIND, f"{name} -> {api}", "unchanged", ids,
                           reason="holds no app role of this API")]
        return [change for change, _ in self.plans]

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        ops = session.graph_ops
        for change, todo in self.plans:
            if change.changed:
                await apply_role(ops, self.principal_id, change, todo)
                change.applied = True
        await fill_assignment_ids(ops, self.principal_id, self.plans)
        return changes


# --- the bootstrap file: [[identity.permission]] ----------------------------------------------------
def _check_entry(entry: dict):
    """The problems of one ``[[identity.permission]]`` table, by the rules of ``[[app.permission]]``."""
    try:
        api_id = rules.api_app_id(entry.get("api"), None)
    except RuleError as err:
        yield "api", err
        return
    roles = list(entry.get("roles") or [])
    known, names = default_permission_lookup()
    for name in roles:
        try:
            rules.check_permission_ref(name)
        except RuleError as err:
            yield "roles", err
            continue
        if api_id == GRAPH_APP_ID and not rules.is_guid(name) and not known(name, "Role"):
            yield "roles", RuleError("UnknownPermission", unknown_permission(
                name, "Role", known, names, other_fix=SCOPE_FIX))
    if len({r.lower() for r in roles}) != len(roles):
        yield "roles", RuleError("Duplicate", "lists a role twice", "list each role once")
    if api_id == GRAPH_APP_ID:
        try:
            check_privileged_roles(roles, entry.get("allow_privileged", False))
        except RuleError as err:
            yield "roles", err


SECTION = Section("identity", "permission", {"api": "str", "roles": "strs", "allow_privileged": "bool"},
                  required=("roles",), check=_check_entry)


def _steps(spec, ctx: BuildContext):
    for i, ident in enumerate(spec.identities):
        for entry in ident.part("permission"):
            yield (3, i), f"identity {ident.name} grants", IdentityGrantStep(
                ident.name, ident.resource_group, entry.get("api"), list(entry.get("roles") or []),
                present=ctx.present, allow_privileged=entry.get("allow_privileged", False),
                gone_ok=not ctx.present)


async def _check(spec, session) -> None:
    """Before any write: the roles resolve against their API's service principal (another API's
    names, and ids, are not in the packaged catalog), and resolved privileged Graph roles need
    ``allow_privileged``."""
    for ident in spec.identities:
        for entry in ident.part("permission"):
            resource_sp = await resource_service_principal(session, api_app_id(entry.get("api")))
            perms = resolve(resource_sp, list(entry.get("roles") or []), [], other_fix=SCOPE_FIX)
            check_privileged_roles([p.name for p in perms if p.api_app_id == GRAPH_APP_ID],
                                   entry.get("allow_privileged", False))


STEP = StepKind(KIND, section="identity.permission", steps=_steps, phase=2, down_phase=1, check=_check,
                file_section=SECTION, labels={KIND: "identity permission granted"},
                needs=(PERMISSIONS["appRoleAssignment"],))
