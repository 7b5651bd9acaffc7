"""Idempotent steps (observe -> diff -> act -> re-read) and the lookups they share.

One module per resource: application, service_principal, permissions, consent, owners, federation
(Graph; this package) and the identity steps (ARM). Each step class follows ``engine.Step``.
Lookups here read an object once per run (``session.memo``) by its natural key - never by display
name - and know that a just-created object may not have replicated yet (a few re-reads before
"not found" is believed; Microsoft Graph: "Known issues" / eventual consistency of directory objects).

``PERMISSIONS`` says which Microsoft Graph application permission each step needs (least
privilege first); a 403 names it, and README.md documents it.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from ..clients.graph import GRAPH_APP_ID, key_segment
from ..engine import is_planned
from ..errors import not_found, usage_error
# The input rules live in spec/rules.py (the flags and the bootstrap file share them).
from ..spec.rules import (GRAPH_API_NAMES, GUID_RE, SYSTEM_ASSIGNED_EXPLANATION,  # noqa: F401
                          SYSTEM_ASSIGNED_TYPES, UNIQUE_NAME_RE, check_app_ref, check_guid,
                          derive_unique_name, is_guid, looks_like_guid)
from ..spec.rules import api_app_id as _api_app_id
from ..spec.rules import check_managed_identity_ref as _check_managed_identity_ref
from ..spec.rules import resource_type as _resource_type

# NOTE: Microsoft Graph permissions reference (least privileged permission of each API).
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
    return _api_app_id(api, "--api")


async def resource_service_principal(session, app_id: str) -> dict:
    """The service principal of an API (read once per run); exit 4 when the tenant has none."""
    sp = await find_service_principal(session, app_id, retry=True)
    if sp is None:
        raise not_found(f"the API {app_id} has no service principal in this tenant", code="ApiNotFound",
                        object=f"API {app_id}",
                        fix="check the API's client id; a third-party API needs its service principal "
                            "created in the tenant first")
    return sp


# --- managed identities named by the user ---------------------------------------------------------
def check_managed_identity_ref(value: str, option: str = "--managed-identity") -> None:
    """Offline: refuse compute resource ids (their identity is system-assigned) and odd ids."""
    _check_managed_identity_ref(value, option)


def identity_label(value: str) -> str:
    return value.rstrip("/").rsplit("/", 1)[-1]


async def resolve_managed_identity(session, value: str, resource_group: str | None = None, *,
                                   for_federation: bool = True) -> dict:
    """A user-assigned identity as {principalId, clientId, name, id} (or PLANNED in plan mode).

    ``value`` is a principal id (GUID: its service principal is read from Graph and must be a
    user-assigned managed identity), a resource id, or a name with ``resource_group`` (read from
    ARM through clients/arm.py). A system-assigned identity is refused (exit 2) when
    ``for_federation``.
    """
    if for_federation:
        check_managed_identity_ref(value)
    if is_guid(value):
        return await _identity_by_principal_id(session, value.lower(), for_federation)
    from ..clients.arm import arm, parse_identity_ref
    ref = parse_identity_ref(value, resource_group, session.subscription_id)
    body = await arm(session).get_identity(ref, missing_ok=True)
    if body is None:
        raise not_found(f"no user-assigned identity '{ref.name}' in resource group '{ref.resource_group}'",
                        code="ResourceNotFound", object=f"user-assigned identity '{ref.id}'",
                        fix="create it with `entra-bootstrap identity create NAME -g RG`, or check the "
                            "name, resource group and subscription")
    if is_planned(body):
        return body
    props = body.get("properties") or {}
    return {"principalId": props.get("principalId", ""), "clientId": props.get("clientId", ""),
            "name": body.get("name") or ref.name, "id": body.get("id") or ref.id}


async def _identity_by_principal_id(session, principal_id: str, for_federation: bool) -> dict:
    async def read():
        return await session.graph.get(f"/servicePrincipals/{principal_id}", missing_ok=True,
                                       obj=f"managed identity {principal_id}",
                                       needs=PERMISSIONS["application.read"])

    sp = await eventually(session, read)
    if sp is None:
        raise not_found(f"no managed identity with principal id {principal_id}", code="PrincipalNotFound",
                        object=f"managed identity {principal_id}",
                        fix="give the principalId of a user-assigned identity (entra-bootstrap identity "
                            "show NAME -g RG), or its name with -g")
    if sp.get("servicePrincipalType") != "ManagedIdentity":
        raise usage_error(f"{principal_id} is the service principal '{sp.get('displayName')}', not a "
                          "managed identity", code="NotAManagedIdentity",
                          fix="give a user-assigned identity's principal id, name (with -g) or resource id")
    alt = [a for a in sp.get("alternativeNames") or [] if isinstance(a, str)]
    resource_id = next((a for a in alt if a.startswith("/")), "")
    # NOTE: a managed identity's service principal carries alternativeNames
    # ["isExplicit=True|False", RESOURCE_ID]; isExplicit=False marks a system-assigned identity.
    if for_federation and ("isExplicit=False" in alt or _resource_type(resource_id) in SYSTEM_ASSIGNED_TYPES):
        raise usage_error(f"{principal_id} is the system-assigned identity of "
                          f"{identity_label(resource_id) or 'a resource'}: it cannot be federated",
                          code="SystemAssignedIdentity", object=resource_id or principal_id,
                          fix=SYSTEM_ASSIGNED_EXPLANATION)
    return {"principalId": sp["id"], "clientId": sp.get("appId", ""), "name": sp.get("displayName", ""),
            "id": resource_id}
