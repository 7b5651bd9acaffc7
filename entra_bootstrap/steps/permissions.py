"""Requested API permissions: the application's ``requiredResourceAccess``, merged, never duplicated.

Names resolve against the resource service principal (read once per run): application
permissions are its ``appRoles`` (type ``Role``), delegated ones its ``oauth2PermissionScopes``
(type ``Scope``); the same name may be both (Microsoft Graph permissions reference). For
Microsoft Graph, names are first checked offline against the packaged catalog so that a typo
fails before any request, with the closest real names. Writing requiredResourceAccess
(``set_required_resource_access``) replaces the whole list, so the step reads,
merges its own entries into the one of that resource and writes the full list back, leaving
every other entry untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches

from ..clients.graph import GRAPH_APP_ID
from ..clients.graph_ops import PERMISSIONS
from ..engine import BuildContext, Change, StepKind, is_planned
from ..errors import usage_error
from ..spec.rules import check_permission_ref
from . import api_app_id, is_guid
from .lookups import remember_application, require_application, resource_service_principal
from .application import app_name, app_parts

KIND = "permission"
TYPES = {"Role": "application permission (app role)", "Scope": "delegated permission (scope)"}


@dataclass(frozen=True)
class Permission:
    """One resolved permission of an API."""

    api_app_id: str
    type: str          # Role | Scope
    id: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.type} {self.name}"


def _option(kind: str) -> str:
    return "--role" if kind == "Role" else "--scope"


def check_offline(api_app_id: str, roles: list[str], scopes: list[str], *,
                  other_fix: str | None = None) -> None:
    """Before any request: malformed GUIDs, and (Microsoft Graph) names not in the catalog.
    ``other_fix``: the fix for a name of the other kind (default: pass it with the other option)."""
    for kind, values in (("Role", roles), ("Scope", scopes)):
        for value in values:
            check_permission_ref(value, _option(kind))
    if api_app_id != GRAPH_APP_ID:
        return
    from ..permissions_catalog import graph_permissions
    catalog = graph_permissions()
    by_kind: dict[str, dict[str, str]] = {"Role": {}, "Scope": {}}
    ids: dict[str, set[str]] = {"Role": set(), "Scope": set()}
    for name, kind, pid, _ in catalog:
        by_kind[kind][name.lower()] = name
        ids[kind].add(pid.lower())
    for kind, values in (("Role", roles), ("Scope", scopes)):
        for value in values:
            if is_guid(value):
                continue          # ids are checked against the service principal (the catalog may lag)
            if value.lower() not in by_kind[kind]:
                raise _unknown(value, kind, "Microsoft Graph", by_kind[kind].values(),
                               other=by_kind["Scope" if kind == "Role" else "Role"].get(value.lower()),
                               other_fix=other_fix)


def _unknown(value: str, kind: str, api: str, names, other: str | None = None,
             other_fix: str | None = None):
    if other:
        other_kind = "Scope" if kind == "Role" else "Role"
        return usage_error(f"'{value}' is not an {TYPES[kind]} of {api}; it is a {TYPES[other_kind]}",
                           code="UnknownPermission",
                           fix=other_fix or f"pass it with {_option(other_kind)} instead of {_option(kind)}")
    close = get_close_matches(value, list(names), n=3, cutoff=0.6)
    if not close:
        lowered = {n.lower(): n for n in names}
        close = [lowered[n] for n in get_close_matches(value.lower(), list(lowered), n=3, cutoff=0.6)]
    hint = f"did you mean {', '.join(close)}?" if close else \
        f"list the {TYPES[kind]}s of {api} in its service principal"
    return usage_error(f"'{value}' is not an {TYPES[kind]} of {api}", code="UnknownPermission",
                       fix=hint)


def resolve(resource_sp: dict, roles: list[str], scopes: list[str], *,
            other_fix: str | None = None) -> list[Permission]:
    """Names or ids -> Permission, against the resource service principal; exit 2 if unknown
    (``other_fix``: as for ``check_offline``)."""
    api = resource_sp.get("displayName") or resource_sp.get("appId", "")
    tables = {"Role": resource_sp.get("appRoles") or [],
              "Scope": resource_sp.get("oauth2PermissionScopes") or []}
    out: list[Permission] = []
    for kind, values in (("Role", roles), ("Scope", scopes)):
        table = tables[kind]
        by_id = {p["id"].lower(): p for p in table}
        by_name = {(p.get("value") or "").lower(): p for p in table if p.get("value")}
        for value in values:
            p = by_id.get(value.lower()) if is_guid(value) else by_name.get(value.lower())
            if p is None:
                other_table = tables["Scope" if kind == "Role" else "Role"]
                other = next((q.get("value") for q in other_table
                              if (q["id"].lower() == value.lower()) or
                              (q.get("value") or "").lower() == value.lower()), None)
                raise _unknown(value, kind, api, [p.get("value") for p in table if p.get("value")],
                               other=other, other_fix=other_fix)
            perm = Permission(resource_sp["appId"].lower(), kind, p["id"].lower(), p.get("value") or p["id"])
            if perm not in out:
                out.append(perm)
    return out


def names_of(resource_sp: dict | None, entries: list[dict]) -> list[str]:
    tables = {"Role": (resource_sp or {}).get("appRoles") or [],
              "Scope": (resource_sp or {}).get("oauth2PermissionScopes") or []}
    out = []
    for e in entries:
        hit = next((p for p in tables.get(e.get("type"), []) if p["id"].lower() == e["id"].lower()), None)
        out.append(f"{e.get('type')} {hit.get('value') if hit else e['id']}")
    return out


def merged(current: list[dict], api_app_id: str, perms: list[Permission], *, add: bool) -> list[dict]:
    """``current`` with ``perms`` added to (or removed from) the entry of ``api_app_id``."""
    out: list[dict] = []
    found = False
    wanted = [{"id": p.id, "type": p.type} for p in perms]
    keys = {(w["id"], w["type"]) for w in wanted}
    for entry in current:
        if (entry.get("resourceAppId") or "").lower() != api_app_id:
            out.append(entry)
            continue
        found = True
        access = list(entry.get("resourceAccess") or [])
        have = {(a["id"].lower(), a["type"]) for a in access}
        if add:
            access += [w for w in wanted if (w["id"], w["type"]) not in have]
        else:
            access = [a for a in access if (a["id"].lower(), a["type"]) not in keys]
        if access:
            out.append({**entry, "resourceAccess": access})
    if add and not found and wanted:
        out.append({"resourceAppId": api_app_id, "resourceAccess": wanted})
    return out


def entry_of(rra: list[dict], api_app_id: str) -> list[dict]:
    for entry in rra:
        if (entry.get("resourceAppId") or "").lower() == api_app_id:
            return list(entry.get("resourceAccess") or [])
    return []


class PermissionsStep:
    """Ensure the app requests (``present``) or no longer requests these permissions of one API."""

    kind = KIND

    def __init__(self, app_ref: str, api: str | None, roles: list[str], scopes: list[str], *,
                 present: bool = True):
        """``api``: "Microsoft Graph" (default) or the API's client id."""
        self.app_ref = app_ref
        self.api_app_id = api_app_id(api)
        self.roles = list(roles)
        self.scopes = list(scopes)
        self.present = present
        self.app: dict | None = None
        self.new_rra: list[dict] = []
        self.resolved: list[Permission] = []

    async def plan(self, session) -> list[Change]:
        self.app = await require_application(session, self.app_ref)
        resource_sp = await resource_service_principal(session, self.api_app_id)
        perms = resolve(resource_sp, self.roles, self.scopes)
        self.resolved = perms
        api = resource_sp.get("displayName") or self.api_app_id
        name = f"{app_name(self.app, self.app_ref)} -> {api}"
        current = [] if is_planned(self.app) else list(self.app.get("requiredResourceAccess") or [])
        have = {(a["id"].lower(), a["type"]) for a in entry_of(current, self.api_app_id)}
        if self.present:
            delta = [p for p in perms if (p.id, p.type) not in have]
            sign = "+"
        else:
            delta = [p for p in perms if (p.id, p.type) in have]
            sign = "-"
        ids = {"resourceAppId": self.api_app_id}
        if not is_planned(self.app):
            ids = {"appId": self.app["appId"], **ids}
        if not delta:
            return [Change(KIND, name, "unchanged", ids,
                           reason="already requested" if self.present else "not requested")]
        self.new_rra = merged(current, self.api_app_id, perms, add=self.present)
        left = entry_of(self.new_rra, self.api_app_id)
        action = "create" if self.present and not have else ("delete" if not left else "update")
        reason = ", ".join(f"{sign} {p.label}" for p in delta)
        if is_planned(self.app):
            reason += " (after the application is created)"
        return [Change(KIND, name, action, ids, reason=reason, fields=("requiredResourceAccess",),
                       before=sorted(have), after=[{"id": p.id, "type": p.type, "name": p.name}
                                                   for p in delta])]

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        change = changes[0]
        app = await session.graph_ops.set_required_resource_access(self.app["id"], self.new_rra,
                                                                   app_name(self.app, self.app_ref))
        remember_application(session, app, self.app_ref)
        self.app = app
        change.applied = True
        return [change]


# --- the step kind (steps/registry.py) ----------------------------------------------------------
def _steps(spec, ctx: BuildContext):
    return app_parts(spec, ctx, lambda app: app.permissions, lambda app, p: PermissionsStep(
        app.unique_name, p.api, list(p.roles), list(p.scopes), present=ctx.present))


async def _check(spec, session) -> None:
    """Another API's permissions are resolved against its service principal before any write."""
    from .lookups import resource_service_principal

    for app in spec.apps:
        for p in app.permissions:
            if not p.is_graph:
                resolve(await resource_service_principal(session, api_app_id(p.api)), list(p.roles),
                        list(p.scopes))


STEP = StepKind(KIND, section="app.permission", steps=_steps, phase=1, down_phase=2, check=_check,
                labels={KIND: "permission requested"}, needs=(PERMISSIONS["permissions"],))
