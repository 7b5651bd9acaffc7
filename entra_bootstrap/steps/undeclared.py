"""Undeclared access on the apps the file manages: what the app holds that the file does not say.

Per declared app (after its federation and owner steps, in the app's second-phase chain): the
federated identity credentials, the requested permissions (``requiredResourceAccess``), the
service principal's app role assignments and delegated permission grants, the owners, and the
password / certificate credentials (``passwordCredentials`` / ``keyCredentials`` of the
application object already read) are compared with the file. Each object the file does not
declare is one ``undeclared`` Change (``! kind name (not in file: ...)``): ``up`` leaves it alone
and ``verify`` fails on it unless the app's ``allow_undeclared`` lists its category - a
privileged Microsoft Graph application permission (spec/rules.PRIVILEGED_GRAPH_ROLES) not in the
file always fails. With ``--prune`` (``ctx.prune``) the changes are deletes instead, applied with
the existing typed removals (Microsoft Graph: Delete federatedIdentityCredential, Remove owner,
Delete appRoleAssignment, Update / Delete oAuth2PermissionGrant, Update application
(requiredResourceAccess), application: removePassword / removeKey).

What is declared:
- a federated credential: its name, or its issuer + subject (a managed identity's subject is the
  declared identity's principal id, steps/lookups.resolve_managed_identity);
- a requested permission / app role / scope: the file's permissions, resolved like
  steps/permissions.py; consented ones only when the app says ``consent = true``;
- an owner: the file's owners (identity or principal) and the signed-in operator (its token's
  ``oid``: Graph makes the creator of an application an owner);
- a password or certificate credential: never (the file declares none: workloads use federation).

In plan mode, an app that does not exist yet (or whose identity is only planned) yields nothing.
"""

from __future__ import annotations

from ..clients.graph import GRAPH_APP_ID
from ..clients.graph_ops import PERMISSIONS
from ..engine import BuildContext, Change, StepKind, is_planned
from ..spec.rules import PRIVILEGED_GRAPH_ROLES, UNDECLARED_CATEGORIES
from . import api_app_id
from .application import app_name
from .federation import federation_step
from .lookups import (find_application, find_service_principal, remember_application,
                      resolve_managed_identity, resource_service_principal,
                      service_principal_by_id)
from .permissions import resolve

KIND = "undeclared"
CATEGORIES = UNDECLARED_CATEGORIES      # allow_undeclared = [...] (spec/rules.py)
_PRIVILEGED_LOWER = {r.lower() for r in PRIVILEGED_GRAPH_ROLES}


def is_undeclared(change: Change) -> bool:
    return change.action == "undeclared" or (isinstance(change.after, dict)
                                             and change.after.get("undeclared") is True)


class UndeclaredStep:
    """Report (or, with ``prune``, remove) what app ``app`` holds that the file does not declare."""

    kind = KIND

    def __init__(self, spec, app, *, prune: bool = False):
        self.spec = spec
        self.app_spec = app
        self.prune = prune
        self.app: dict | None = None
        self.sp: dict | None = None
        self.todo: list[tuple[Change, dict]] = []

    # --- what the file declares ------------------------------------------------------------------
    async def _declared_permissions(self, session) -> set[tuple[str, str, str]] | None:
        """{(api app id, permission id, Role|Scope)} the file requests."""
        out: set[tuple[str, str, str]] = set()
        for p in self.app_spec.permissions:
            resource_sp = await resource_service_principal(session, api_app_id(p.api))
            for perm in resolve(resource_sp, list(p.roles), list(p.scopes)):
                out.add((perm.api_app_id, perm.id, perm.type))
        return out

    async def _declared_fics(self, session) -> tuple[set[str], set[tuple[str, str]]] | None:
        names: set[str] = set()
        pairs: set[tuple[str, str]] = set()
        for fed in self.app_spec.federations:
            step = federation_step(self.spec, self.app_spec.unique_name, fed)
            names.add(step.name.lower())
            wanted = await step._wanted(session)
            if wanted is None:
                return None
            pairs.add((wanted["issuer"], wanted["subject"].lower()))
        return names, pairs

    async def _declared_owners(self, session) -> set[str] | None:
        out: set[str] = set()
        for owner in self.app_spec.owners:
            if owner.kind == "principal":
                out.add(owner.value.lower())
                continue
            rg = None
            if not owner.value.startswith("/"):
                declared = self.spec.identity(owner.value)
                rg = declared.resource_group if declared else None
            identity = await resolve_managed_identity(session, owner.value, rg, for_federation=False)
            if is_planned(identity):
                return None
            out.add(identity["principalId"].lower())
        oid = (await session.graph_token_claims()).get("oid")
        if oid:
            out.add(oid.lower())
        return out

    # --- plan ---------------------------------------------------------------------------------------
    def _change(self, kind: str, name: str, category: str, reason: str, ids: dict, todo: dict, *,
                privileged: bool = False) -> Change:
        allowed = category in self.app_spec.allow_undeclared and not privileged
        info = {"undeclared": True, "category": category, "allowed": allowed, "privileged": privileged}
        if self.prune:
            change = Change(kind, name, "delete", ids, reason=f"not in file: {reason}; --prune", after=info)
        else:
            change = Change(kind, name, "undeclared", ids, reason=reason, after=info)
        self.todo.append((change, todo))
        return change

    async def plan(self, session) -> list[Change]:
        self.todo = []
        unique = self.app_spec.unique_name
        self.app = await find_application(session, unique, retry=False)
        if self.app is None or is_planned(self.app):
            return []
        name = app_name(self.app, unique)
        ops = session.graph_ops
        changes: list[Change] = []

        fics = await self._declared_fics(session)
        if fics is not None:
            names, pairs = fics
            for fic in await ops.list_fics(self.app["id"], name, replicating=True):
                pair = (fic.get("issuer") or "", (fic.get("subject") or "").lower())
                if (fic.get("name") or "").lower() in names or pair in pairs:
                    continue
                changes.append(self._change(
                    "federatedIdentityCredential", f"{name}/{fic.get('name')}", "federations",
                    f"issuer {fic.get('issuer')} subject {fic.get('subject')}",
                    {"appId": self.app["appId"], "id": fic.get("id", "")}, {"op": "fic", "fic": fic}))

        declared = await self._declared_permissions(session)
        rra = list(self.app.get("requiredResourceAccess") or [])
        for entry in rra:
            api = (entry.get("resourceAppId") or "").lower()
            extra = [a for a in entry.get("resourceAccess") or []
                     if (api, (a.get("id") or "").lower(), a.get("type")) not in declared]
            if extra:
                label = await self._api_label(session, api)
                names_ = [f"{a.get('type')} {await self._perm_name(session, api, a)}" for a in extra]
                changes.append(self._change(
                    "permission", f"{name} -> {label}: {', '.join(names_)}", "permissions",
                    "requested: " + ", ".join(names_), {"appId": self.app["appId"], "resourceAppId": api},
                    {"op": "rra", "api": api, "extra": extra}))

        changes += await self._plan_consent(session, name, declared)

        owners = await self._declared_owners(session)
        if owners is not None:
            for owner in await ops.list_owners(self.app["id"], name, replicating=True):
                oid = (owner.get("id") or "").lower()
                if oid in owners:
                    continue
                label = owner.get("displayName") or owner.get("userPrincipalName") or oid
                changes.append(self._change(
                    "owner", f"{name} <- {label}", "owners", f"owner {oid}",
                    {"appId": self.app["appId"], "principalId": oid}, {"op": "owner", "id": oid}))

        for key, kind in (("passwordCredentials", "passwordCredential"), ("keyCredentials", "keyCredential")):
            for cred in self.app.get(key) or []:
                label = cred.get("displayName") or cred.get("keyId")
                changes.append(self._change(
                    kind, f"{name}/{label}", "credentials",
                    f"{'password' if kind == 'passwordCredential' else 'certificate'} credential "
                    f"{cred.get('keyId')}", {"appId": self.app["appId"], "keyId": cred.get("keyId", "")},
                    {"op": kind, "cred": cred}))
        return changes

    async def _plan_consent(self, session, name: str, declared: set) -> list[Change]:
        sp = await find_service_principal(session, self.app["appId"])
        if sp is None or is_planned(sp):
            return []
        self.sp = sp
        consented = declared if self.app_spec.consent else set()
        ops = session.graph_ops
        out: list[Change] = []
        for a in await ops.list_app_role_assignments(sp["id"], name):
            resource = await self._resource(session, a.get("resourceId") or "")
            api = (resource or {}).get("appId", "").lower()
            role_id = (a.get("appRoleId") or "").lower()
            if (api, role_id, "Role") in consented:
                continue
            role = next((r.get("value") for r in (resource or {}).get("appRoles") or []
                         if (r.get("id") or "").lower() == role_id), None) or role_id
            privileged = api == GRAPH_APP_ID and role.lower() in _PRIVILEGED_LOWER
            api_label = (resource or {}).get("displayName") or a.get("resourceDisplayName") or api
            out.append(self._change(
                "appRoleAssignment", f"{name} -> {api_label}: {role}", "app_roles",
                f"application permission {role} consented" + (" (privileged)" if privileged else ""),
                {"servicePrincipalId": sp["id"], "assignmentId": a.get("id", "")},
                {"op": "role", "assignment": a}, privileged=privileged))
        for g in await ops.list_oauth2_grants(sp["id"], name=name):
            resource = await self._resource(session, g.get("resourceId") or "")
            api = (resource or {}).get("appId", "").lower()
            known = {(p.get("value") or "").lower(): (p.get("id") or "").lower()
                     for p in (resource or {}).get("oauth2PermissionScopes") or []}
            have = (g.get("scope") or "").split()
            extra = [s for s in have if g.get("consentType") != "AllPrincipals"
                     or (api, known.get(s.lower(), ""), "Scope") not in consented]
            if not extra:
                continue
            api_label = (resource or {}).get("displayName") or api
            out.append(self._change(
                "oauth2PermissionGrant", f"{name} -> {api_label}: {' '.join(extra)}", "scopes",
                f"delegated scope {' '.join(extra)} consented ({g.get('consentType')})",
                {"servicePrincipalId": sp["id"], "grantId": g.get("id", "")},
                {"op": "grant", "grant": g, "left": [s for s in have if s not in extra]}))
        return out

    async def _resource(self, session, sp_id: str) -> dict | None:
        return await service_principal_by_id(session, sp_id)

    async def _api_label(self, session, api: str) -> str:
        sp = await find_service_principal(session, api)
        return (sp or {}).get("displayName") or api

    async def _perm_name(self, session, api: str, access: dict) -> str:
        sp = await find_service_principal(session, api)
        table = (sp or {}).get("appRoles" if access.get("type") == "Role" else "oauth2PermissionScopes") or []
        pid = (access.get("id") or "").lower()
        return next((p.get("value") for p in table if (p.get("id") or "").lower() == pid), None) or pid

    # --- apply (--prune) ----------------------------------------------------------------------------
    async def apply(self, session, changes: list[Change]) -> list[Change]:
        ops = session.graph_ops
        name = app_name(self.app, self.app_spec.unique_name)
        rra_extra: dict[str, list[dict]] = {}
        for change, todo in self.todo:
            if change.action != "delete":
                continue
            op = todo["op"]
            if op == "fic":
                await ops.delete_fic(self.app["id"], todo["fic"]["id"], label=change.name)
            elif op == "owner":
                await ops.remove_owner(self.app["id"], todo["id"], owner=todo["id"], app_name=name)
            elif op == "role":
                await ops.delete_app_role_assignment(self.sp["id"], todo["assignment"]["id"], label=change.name)
            elif op == "grant":
                if todo["left"]:
                    await ops.update_oauth2_grant(todo["grant"]["id"], " ".join(todo["left"]), label=change.name)
                else:
                    await ops.delete_oauth2_grant(todo["grant"]["id"], label=change.name)
            elif op == "rra":
                rra_extra[todo["api"]] = todo["extra"]
            elif op == "passwordCredential":
                await ops.remove_password(self.app["id"], todo["cred"]["keyId"], label=change.name)
            elif op == "keyCredential":
                keep = [c for c in self.app.get("keyCredentials") or []
                        if c.get("keyId") != todo["cred"]["keyId"]]
                await ops.set_key_credentials(self.app["id"], keep, label=change.name)
                self.app = {**self.app, "keyCredentials": keep}
            change.applied = True
        if rra_extra:
            rra = []
            for entry in self.app.get("requiredResourceAccess") or []:
                api = (entry.get("resourceAppId") or "").lower()
                drop = {((a.get("id") or "").lower(), a.get("type")) for a in rra_extra.get(api, [])}
                access = [a for a in entry.get("resourceAccess") or []
                          if ((a.get("id") or "").lower(), a.get("type")) not in drop]
                if access:
                    rra.append({**entry, "resourceAccess": access})
            app = await ops.set_required_resource_access(self.app["id"], rra, name)
            remember_application(session, app, self.app_spec.unique_name)
            for change, todo in self.todo:
                if todo["op"] == "rra":
                    change.applied = True
        return changes


# --- the step kind (steps/registry.py) ----------------------------------------------------------
def _steps(spec, ctx: BuildContext):
    if not ctx.present:
        return                      # down removes only what the file declares
    for i, app in enumerate(spec.apps):
        yield (2, i), f"app {app.unique_name} links", UndeclaredStep(spec, app, prune=ctx.prune)


STEP = StepKind(KIND, section="app", steps=_steps, phase=2, down_phase=1,
                labels={"passwordCredential": "password credential", "keyCredential": "certificate credential"},
                needs=(PERMISSIONS["application.read"],))
