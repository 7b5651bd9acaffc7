"""Idempotent steps (observe -> diff -> act -> re-read) and the lookups they share.

One module per resource: application, service_principal, permissions, consent, owners, federation
(Graph; this package) and the identity steps (ARM). Each step class follows ``engine.Step``.
Lookups here read an object once per run (``session.memo``) by its natural key - never by display
name - and know that a just-created object may not have replicated yet (a few re-reads before
"not found" is believed; FACTS.md, "Replication delay").

``PERMISSIONS`` says which Microsoft Graph application permission each step needs (least
privilege first); a 403 names it, and README.md documents it.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Awaitable, Callable

from ..clients.graph import GRAPH_APP_ID, key_segment
from ..engine import is_planned
from ..errors import not_found, usage_error

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
UNIQUE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
GRAPH_API_NAMES = {"microsoft graph", "graph", GRAPH_APP_ID}

# NOTE: FACTS.md "What the operator running the tool needs"; Graph permission reference.
PERMISSIONS = {
    "application": "Application.ReadWrite.OwnedBy (or Application.ReadWrite.All)",
    "application.read": "Application.Read.All (or Application.ReadWrite.OwnedBy as an owner)",
    "servicePrincipal": "Application.ReadWrite.OwnedBy (or Application.ReadWrite.All)",
    "permissions": "Application.ReadWrite.OwnedBy as an owner of the app (or Application.ReadWrite.All)",
    "appRoleAssignment": "AppRoleAssignment.ReadWrite.All (and Application.Read.All)",
    "oauth2PermissionGrant": "DelegatedPermissionGrant.ReadWrite.All",
    "owner": "Application.ReadWrite.OwnedBy as an owner of the app (or Application.ReadWrite.All)",
    "federatedIdentityCredential": "Application.ReadWrite.OwnedBy as an owner of the app "
                                   "(or Application.ReadWrite.All)",
}


def is_guid(value: str) -> bool:
    return bool(GUID_RE.match(value or ""))


def looks_like_guid(value: str) -> bool:
    """Hex-and-dashes text meant as a GUID (so a malformed one is reported as such)."""
    v = value or ""
    return "-" in v and len(v) >= 8 and bool(re.fullmatch(r"[0-9a-fA-F{}-]+", v)) and \
        any(c.isdigit() for c in v)


def check_guid(value: str, what: str, option: str) -> str:
    if not is_guid(value):
        raise usage_error(f"{option} '{value}' is not a valid GUID ({what})", code="MalformedGuid",
                          fix=f"give {option} as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")
    return value.lower()


def check_app_ref(value: str) -> str:
    """APP is a client id, an object id or a unique name; reject what can be none of them."""
    value = (value or "").strip()
    if is_guid(value):
        return value.lower()
    if looks_like_guid(value) and len(value) >= 30:
        raise usage_error(f"APP '{value}' looks like a GUID but is malformed", code="MalformedGuid",
                          fix="give the app's client id or object id as xxxxxxxx-xxxx-xxxx-xxxx-"
                              "xxxxxxxxxxxx, or its unique name")
    if not UNIQUE_NAME_RE.match(value):
        raise usage_error(f"APP '{value}' is neither a GUID nor a valid unique name", code="BadAppReference",
                          fix="give the client id, the object id or the unique name (letters, digits, "
                              "'.', '_', '-'; up to 120 characters)")
    return value


def derive_unique_name(name: str) -> str:
    """The uniqueName used when ``app create`` is given none: NAME lower-cased, every run of
    characters other than letters, digits, '.', '_' and '-' replaced by '-', trimmed to 120."""
    out = re.sub(r"[^a-z0-9._-]+", "-", name.strip().lower()).strip("-._")
    return out[:120].rstrip("-._") or "app"


async def eventually(session, read: Callable[[], Awaitable[Any]]) -> Any:
    """``read()`` until it returns something, up to the policy's lookup attempts (replication)."""
    policy = session.retry
    for attempt in range(1, policy.lookup_attempts + 1):
        found = await read()
        if found is not None or attempt == policy.lookup_attempts:
            return found
        await asyncio.sleep(policy.delay(attempt))
    return None


def app_label(ref: str) -> str:
    return f"application '{ref}'"


async def find_application(session, ref: str, *, retry: bool = True) -> dict | None:
    """The application by client id, object id or unique name (memoised), or None."""
    memo_key = ("app", ref.lower())
    if memo_key in session.memo:
        return session.memo[memo_key]
    graph = session.graph
    needs = PERMISSIONS["application.read"]

    async def read() -> dict | None:
        if is_guid(ref):
            app = await graph.get("/applications" + key_segment("appId", ref), missing_ok=True,
                                  obj=app_label(ref), needs=needs)
            if app is None:
                app = await graph.get(f"/applications/{ref}", missing_ok=True, obj=app_label(ref),
                                      needs=needs)
            return app
        return await graph.get("/applications" + key_segment("uniqueName", ref), missing_ok=True,
                               obj=app_label(ref), needs=needs)

    app = await (eventually(session, read) if retry else read())
    if app is not None:
        remember_application(session, app, ref)
    return app


def remember_application(session, app: dict, *refs: str) -> None:
    keys = set(refs)
    if not is_planned(app):
        keys |= {app.get("id") or "", app.get("appId") or ""}
    if app.get("uniqueName"):
        keys.add(app["uniqueName"])
    for key in keys - {""}:
        session.memo[("app", key.lower())] = app


def forget_application(session, app: dict) -> None:
    for key in [k for k, v in session.memo.items() if v is app]:
        del session.memo[key]


async def require_application(session, ref: str) -> dict:
    """The application (or a PLANNED one in plan mode); exit 4 when it does not exist."""
    app = await find_application(session, ref)
    if app is None:
        raise not_found(f"no application '{ref}' (looked up by "
                        f"{'client id and object id' if is_guid(ref) else 'unique name'})",
                        code="ApplicationNotFound", object=app_label(ref),
                        fix=f"create it with `entra-bootstrap app create {ref}` or give its client id, "
                            "object id or unique name")
    return app


async def find_service_principal(session, app_id: str, *, retry: bool = False) -> dict | None:
    """The service principal of ``app_id`` (memoised), or None."""
    memo_key = ("sp", app_id.lower())
    if memo_key in session.memo:
        return session.memo[memo_key]

    async def read() -> dict | None:
        return await session.graph.get("/servicePrincipals" + key_segment("appId", app_id),
                                       missing_ok=True, obj=f"service principal of {app_id}",
                                       needs=PERMISSIONS["application.read"])

    sp = await (eventually(session, read) if retry else read())
    if sp is not None:
        session.memo[memo_key] = sp
    return sp


def remember_service_principal(session, app_id: str, sp: dict | None) -> None:
    key = ("sp", app_id.lower())
    if sp is None:
        session.memo.pop(key, None)
    else:
        session.memo[key] = sp


def api_app_id(api: str | None) -> str:
    """``--api``: "Microsoft Graph" (default) or the resource application's client id."""
    value = (api or "Microsoft Graph").strip()
    if value.lower() in GRAPH_API_NAMES:
        return GRAPH_APP_ID
    if is_guid(value):
        return value.lower()
    if looks_like_guid(value):
        raise usage_error(f"--api '{value}' is not a valid GUID", code="MalformedGuid",
                          fix="give the API's client id (appId) as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, "
                              "or \"Microsoft Graph\"")
    raise usage_error(f"--api '{value}' is not \"Microsoft Graph\" nor a client id", code="BadApi",
                      fix="give \"Microsoft Graph\" or the client id (appId) of the API")


async def resource_service_principal(session, app_id: str) -> dict:
    """The service principal of an API (read once per run); exit 4 when the tenant has none."""
    sp = await find_service_principal(session, app_id, retry=True)
    if sp is None:
        raise not_found(f"the API {app_id} has no service principal in this tenant", code="ApiNotFound",
                        object=f"API {app_id}",
                        fix="check the API's client id; a third-party API needs its service principal "
                            "created in the tenant first")
    return sp
