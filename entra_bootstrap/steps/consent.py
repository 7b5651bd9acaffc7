"""Admin consent over the Graph API: app role assignments and one AllPrincipals grant per API.

Grant (Microsoft Entra: "Grant tenant-wide admin consent to an application", the Graph way):
- every requested application permission -> one appRoleAssignment of the app's service principal
  (Microsoft Graph: Grant an appRoleAssignment for a service principal, ``assign_app_role``);
  existing ones are read first (``list_app_role_assignments``), and "Permission being assigned
  already exists" after a lost response is accepted once a re-read shows it;
- the requested delegated scopes -> one ``consentType: AllPrincipals`` oauth2PermissionGrant per
  (client, resource) (Microsoft Graph: Create oAuth2PermissionGrant): created when missing,
  updated with the union when scopes are missing; a conflict on create (a grant created
  meanwhile) is followed by a re-read, never a second grant.
The app role part (diff, writes, ids) is steps/app_roles.py, shared with direct grants to a
managed identity (steps/identity_grant.py).
Revoke deletes the assignments of the requested roles and removes the requested scopes from the
grant (deleting it when no scope is left).

Privileged Microsoft Graph application permissions (``PRIVILEGED_GRAPH_ROLES``: each lets the
app take over the tenant) are refused unless ``allow_privileged`` is set.
"""

from __future__ import annotations

from ..clients.graph import GRAPH_APP_ID
from ..clients.graph_ops import PERMISSIONS
from ..engine import BuildContext, Change, StepKind, is_planned
from ..errors import not_found
from ..spec.rules import PRIVILEGED_GRAPH_ROLES, check_privileged_roles  # noqa: F401 - the rule
from . import api_app_id
from .lookups import find_service_principal, require_application, resource_service_principal
from .application import app_name, app_parts
from .app_roles import apply_role, fill_assignment_ids, role_changes
from .permissions import Permission, entry_of, resolve

ROLE_KIND = "appRoleAssignment"
GRANT_KIND = "oauth2PermissionGrant"


def check_privileged(perms: list[Permission], allow: bool) -> None:
    check_privileged_roles([p.name for p in perms if p.api_app_id == GRAPH_APP_ID and p.type == "Role"],
                           allow)


class ConsentStep:
    """Ensure admin consent (``present``) or its absence for the app's requested permissions.

    ``api`` ("Microsoft Graph" or a client id) limits it to one API. ``roles``/``scopes`` (names
    or ids of that API) give the permissions explicitly (a bootstrap file); without them the
    app's requiredResourceAccess says what to consent to.
    """

    def __init__(self, app_ref: str, api: str | None = None, roles: list[str] | None = None,
                 scopes: list[str] | None = None, *, present: bool = True,
                 allow_privileged: bool = False):
        self.kind = ROLE_KIND
        self.app_ref = app_ref
        self.api_app_id = api_app_id(api) if api else None
        self.present = present
        self.allow_privileged = allow_privileged
        self.wanted = None
        if roles is not None or scopes is not None:
            self.wanted = [(self.api_app_id or GRAPH_APP_ID, list(roles or []), list(scopes or []))]
        self.client_sp: dict | None = None
        self.plans: list[tuple[Change, dict]] = []   # (change, what to do)

    async def _requested(self, session, app: dict) -> list[tuple[dict, list[Permission]]]:
        """[(resource service principal, permissions)] to consent to."""
        if self.wanted is not None:
            pairs = [(api.lower(), roles, scopes) for api, roles, scopes in self.wanted]
        else:
            rra = [] if is_planned(app) else list(app.get("requiredResourceAccess") or [])
            pairs = []
            for entry in rra:
                api = (entry.get("resourceAppId") or "").lower()
                access = entry_of(rra, api)
                pairs.append((api, [a["id"] for a in access if a.get("type") == "Role"],
                              [a["id"] for a in access if a.get("type") == "Scope"]))
        out = []
        for api, roles, scopes in pairs:
            if self.api_app_id and api != self.api_app_id:
                continue
            resource_sp = await resource_service_principal(session, api)
            out.append((resource_sp, resolve(resource_sp, roles, scopes)))
        return out

    async def plan(self, session) -> list[Change]:
        app = await require_application(session, self.app_ref)
        requested = await self._requested(session, app)
        if self.present:
            check_privileged([p for _, perms in requested for p in perms], self.allow_privileged)
        name = app_name(app, self.app_ref)
        self.plans = []
        sp = None if is_planned(app) else await find_service_principal(session, app["appId"], retry=True)
        if sp is None and not is_planned(app):
            if not self.present:
                return [Change(ROLE_KIND, name, "unchanged", reason="the app has no service principal")]
            raise not_found(f"application '{name}' has no service principal to consent for",
                            code="ServicePrincipalNotFound", object=f"application '{name}'",
                            fix=f"create it first: entra-bootstrap sp create --app {self.app_ref}")
        self.client_sp = sp
        if sp is None or is_planned(sp):
            return [Change(ROLE_KIND, f"{name} -> {r.get('displayName')}: {p.name}", "create",
                           reason="after the service principal is created")
                    for r, perms in requested for p in perms if p.type == "Role" and self.present] + \
                   [Change(GRANT_KIND, f"{name} -> {r.get('displayName')}", "create",
                           reason="after the service principal is created: scope "
                                  + " ".join(p.name for p in perms if p.type == "Scope"))
                    for r, perms in requested if self.present and any(p.type == "Scope" for p in perms)]
        assignments = await session.graph_ops.list_app_role_assignments(sp["id"], name)
        if not self.present and self.wanted is None:
            requested = await self._with_held(session, requested, assignments, name)
        changes = []
        for resource_sp, perms in requested:
            changes += self._plan_roles(name, resource_sp, perms, assignments)
            changes += await self._plan_grant(session, name, resource_sp, perms)
        if not changes:
            changes = [Change(ROLE_KIND, name, "unchanged", {"servicePrincipalId": sp["id"]},
                              reason="no permission requested")]
        return changes

    async def _with_held(self, session, requested: list[tuple[dict, list[Permission]]],
                         assignments: list[dict], name: str) -> list[tuple[dict, list[Permission]]]:
        """``consent revoke`` without a list: also the consent the app holds for permissions it no
        longer requests (removed with ``permission remove`` before the revoke)."""
        held: dict[str, tuple[set[str], set[str]]] = {}
        for a in assignments:
            if a.get("resourceId") and a.get("appRoleId"):
                held.setdefault(a["resourceId"].lower(), (set(), set()))[0].add(a["appRoleId"].lower())
        grants = await session.graph_ops.list_oauth2_grants(self.client_sp["id"], name=name)
        for g in grants:
            if g.get("consentType") == "AllPrincipals" and g.get("resourceId"):
                held.setdefault(g["resourceId"].lower(), (set(), set()))[1].update(
                    s.lower() for s in (g.get("scope") or "").split())
        out = list(requested)
        for resource_id, (roles, scopes) in held.items():
            index = next((i for i, (r, _) in enumerate(out) if r["id"].lower() == resource_id), None)
            resource_sp = out[index][0] if index is not None else \
                await session.graph_ops.get_service_principal(resource_id, what="API")
            if resource_sp is None or (self.api_app_id and resource_sp["appId"].lower() != self.api_app_id):
                continue
            known = resolve(resource_sp,
                            [r["id"] for r in resource_sp.get("appRoles") or [] if r["id"].lower() in roles],
                            [p["id"] for p in resource_sp.get("oauth2PermissionScopes") or []
                             if (p.get("value") or "").lower() in scopes])
            if index is None:
                out.append((resource_sp, known))
            else:
                out[index] = (resource_sp, out[index][1] + [p for p in known if p not in out[index][1]])
        return out

    def _plan_roles(self, name: str, resource_sp: dict, perms: list[Permission],
                    assignments: list[dict]) -> list[Change]:
        planned = role_changes(ROLE_KIND, name, self.client_sp["id"], resource_sp, perms, assignments,
                               present=self.present)
        self.plans += [(change, {"op": "role", **todo}) for change, todo in planned]
        return [change for change, _ in planned]

    async def _plan_grant(self, session, name: str, resource_sp: dict, perms: list[Permission]) -> list[Change]:
        scopes = [p.name for p in perms if p.type == "Scope"]
        if not scopes:
            return []
        api = resource_sp.get("displayName") or resource_sp["appId"]
        grants = await session.graph_ops.list_oauth2_grants(self.client_sp["id"], resource_sp["id"], name=name)
        grant = next((g for g in grants if g.get("consentType") == "AllPrincipals"), None)
        have = (grant or {}).get("scope", "").split()
        label = f"{name} -> {api}"
        ids = {"servicePrincipalId": self.client_sp["id"]}
        if grant:
            ids["grantId"] = grant["id"]
        if self.present:
            missing = [s for s in scopes if s not in have]
            if grant is None:
                change = Change(GRANT_KIND, label, "create", ids, reason="scope " + " ".join(scopes))
            elif missing:
                change = Change(GRANT_KIND, label, "update", ids, fields=("scope",),
                                reason="+ scope " + " ".join(missing))
            else:
                change = Change(GRANT_KIND, label, "unchanged", ids, reason="all scopes granted")
            new_scope = " ".join(have + missing)
        else:
            left = [s for s in have if s not in scopes]
            if grant is None or left == have:
                change = Change(GRANT_KIND, label, "unchanged", ids, reason="not granted")
            elif left:
                change = Change(GRANT_KIND, label, "update", ids, fields=("scope",),
                                reason="- scope " + " ".join(s for s in have if s in scopes))
            else:
                change = Change(GRANT_KIND, label, "delete", ids, reason="revoke requested")
            new_scope = " ".join(left)
        self.plans.append((change, {"op": "grant", "resource": resource_sp, "grant": grant,
                                    "scope": new_scope}))
        return [change]

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        ops = session.graph_ops
        for change, todo in self.plans:
            if not change.changed:
                continue
            if todo["op"] == "role":
                await apply_role(ops, self.client_sp["id"], change, todo)
            else:
                await self._apply_grant(ops, change, todo)
            change.applied = True
        await self._reread(session)
        return changes

    async def _apply_grant(self, ops, change: Change, todo: dict) -> None:
        grant = todo["grant"]
        if change.action == "delete":
            await ops.delete_oauth2_grant(grant["id"], label=change.name)
            return
        if grant is None:
            grant, created = await ops.create_oauth2_grant(self.client_sp["id"], todo["resource"]["id"],
                                                           todo["scope"], label=change.name)
            if created:
                if grant and grant.get("id"):
                    change.ids["grantId"] = grant["id"]
                return
            # A grant for this pair appeared meanwhile (a lost response of an earlier run): merge into it.
            have = grant.get("scope", "").split()
            todo["scope"] = " ".join(have + [s for s in todo["scope"].split() if s not in have])
            if todo["scope"] == grant.get("scope"):
                return
        await ops.update_oauth2_grant(grant["id"], todo["scope"], label=change.name)

    async def _reread(self, session) -> None:
        """Fill in the ids of what now exists (one read of the assignments)."""
        await fill_assignment_ids(session.graph_ops, self.client_sp["id"],
                                  [(c, t) for c, t in self.plans if t["op"] == "role"])


# --- the step kind (steps/registry.py) ----------------------------------------------------------
def _steps(spec, ctx: BuildContext):
    return app_parts(spec, ctx, lambda app: app.permissions if app.consent else (), lambda app, p: ConsentStep(
        app.unique_name, p.api, list(p.roles), list(p.scopes), allow_privileged=app.allow_privileged,
        present=ctx.present))


STEP = StepKind(ROLE_KIND, section="app.consent", steps=_steps, phase=1, down_phase=2,
                labels={ROLE_KIND: "permission consented", GRANT_KIND: "delegated permission consented"},
                needs=(PERMISSIONS["appRoleAssignment"], PERMISSIONS["oauth2PermissionGrant"]))
