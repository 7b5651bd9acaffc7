"""Cached reads by natural key: each object is read once per run (``session.memo``), never by
display name, and a just-created one may not have replicated yet (a few re-reads before "not
found" is believed: ``clients.retry.wait_for_consistency``; Entra ID: replication delay -
"Objects may take time to replicate").

Applications (by client id, object id or unique name), service principals (by appId), the
managed identity a user names (principal id, resource id, or name with resource group),
user-assigned identities (by resource id) and resource groups (by name). Requests go through the named operations of
clients/graph_ops.py and clients/arm.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..clients.arm import IdentityRef, arm, parse_identity_ref
from ..clients.retry import wait_for_consistency
from ..engine import is_planned
from ..errors import not_found, usage_error
from ..spec.rules import is_guid
from .common import SYSTEM_ASSIGNED_EXPLANATION, SYSTEM_ASSIGNED_TYPES, app_label, identity_label, resource_type


# --- applications ------------------------------------------------------------------------------
async def find_application(session, ref: str, *, retry: bool = True) -> dict | None:
    """The application by client id, object id or unique name (memoised), or None."""
    memo_key = ("app", ref.lower())
    if memo_key in session.memo:
        return session.memo[memo_key]
    ops = session.graph_ops

    async def read() -> dict | None:
        if is_guid(ref):
            app = await ops.get_application_by_app_id(ref)
            if app is None:
                app = await ops.get_application(ref)
            return app
        return await ops.get_application_by_unique_name(ref)

    app = await (wait_for_consistency(session.retry, read) if retry else read())
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


# --- service principals ------------------------------------------------------------------------
async def find_service_principal(session, app_id: str, *, retry: bool = False) -> dict | None:
    """The service principal of ``app_id`` (memoised), or None."""
    memo_key = ("sp", app_id.lower())
    if memo_key in session.memo:
        return session.memo[memo_key]

    async def read() -> dict | None:
        return await session.graph_ops.get_service_principal_by_app_id(app_id)

    sp = await (wait_for_consistency(session.retry, read) if retry else read())
    if sp is not None:
        session.memo[memo_key] = sp
    return sp


async def service_principal_by_id(session, object_id: str) -> dict | None:
    """A service principal by object id (memoised), e.g. the resource of an app role assignment
    or of a grant; None when there is none."""
    key = ("sp-id", object_id.lower())
    if key not in session.memo:
        session.memo[key] = await session.graph_ops.get_service_principal(object_id, what="API") \
            if object_id else None
    return session.memo[key]


def remember_service_principal(session, app_id: str, sp: dict | None) -> None:
    key = ("sp", app_id.lower())
    if sp is None:
        session.memo.pop(key, None)
    else:
        session.memo[key] = sp


async def resource_service_principal(session, app_id: str) -> dict:
    """The service principal of an API (read once per run); exit 4 when the tenant has none."""
    sp = await find_service_principal(session, app_id, retry=True)
    if sp is None:
        raise not_found(f"the API {app_id} has no service principal in this tenant", code="ApiNotFound",
                        object=f"API {app_id}",
                        fix="check the API's client id; a third-party API needs its service principal "
                            "created in the tenant first")
    return sp


# --- ARM: resource groups, user-assigned identities -------------------------------------------------
async def find_resource_group(session, name: str) -> dict:
    """The resource group (memoised); exit 4 when it does not exist."""
    key = ("rg", name.lower())
    if key not in session.memo:
        session.memo[key] = await arm(session).get_resource_group(name)
    return session.memo[key]


async def find_user_assigned_identity(session, ref: IdentityRef, *, missing_ok: bool = False) -> dict | None:
    """The identity as ARM returns it (memoised; PLANNED in plan mode once a step plans it)."""
    key = ("uami", ref.key)
    if key in session.memo:
        return session.memo[key]
    found = await arm(session).get_identity(ref, missing_ok=missing_ok)
    if found is not None:
        session.memo[key] = found
    return found


def remember_user_assigned_identity(session, ref: IdentityRef, body: dict | None) -> None:
    key = ("uami", ref.key)
    if body is None:
        session.memo.pop(key, None)
    else:
        session.memo[key] = body


@dataclass(frozen=True)
class UserAssignedIdentity:
    id: str
    name: str
    resource_group: str
    subscription_id: str
    location: str
    principal_id: str
    client_id: str
    tenant_id: str

    @classmethod
    def from_arm(cls, ref: IdentityRef, body: dict) -> "UserAssignedIdentity":
        props = body.get("properties") or {}
        return cls(id=body.get("id") or ref.id, name=body.get("name") or ref.name,
                   resource_group=ref.resource_group, subscription_id=ref.subscription_id,
                   location=body.get("location", ""), principal_id=props.get("principalId", ""),
                   client_id=props.get("clientId", ""), tenant_id=props.get("tenantId", ""))

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "resourceGroup": self.resource_group,
                "subscriptionId": self.subscription_id, "location": self.location,
                "principalId": self.principal_id, "clientId": self.client_id, "tenantId": self.tenant_id}


async def resolve_user_assigned_identity(session, name_or_resource_id: str,
                                         resource_group: str | None = None) -> UserAssignedIdentity:
    """A user-assigned identity named by name (+ resource group) or full resource id.

    Exit 2 for a malformed id or name (before any request), 4 when it does not exist (including
    an unknown subscription), 3 when the operator may not read it. Read once per run.
    """
    ref = parse_identity_ref(name_or_resource_id, resource_group, session.subscription_id)
    body = await find_user_assigned_identity(session, ref)
    return UserAssignedIdentity.from_arm(ref, body)


# --- managed identities named by the user ----------------------------------------------------------
async def resolve_managed_identity(session, value: str, resource_group: str | None = None, *,
                                   for_federation: bool = True) -> dict:
    """A user-assigned identity as {principalId, clientId, name, id} (or PLANNED in plan mode).

    ``value`` is a principal id (GUID: its service principal is read from Graph and must be a
    user-assigned managed identity), a resource id, or a name with ``resource_group`` (read from
    ARM). A system-assigned identity found by principal id is refused (exit 2) when
    ``for_federation``; the offline checks of ``value`` (``check_managed_identity_ref``) are the
    caller's, before any request.
    """
    if is_guid(value):
        return await _identity_by_principal_id(session, value.lower(), for_federation)
    ref = parse_identity_ref(value, resource_group, session.subscription_id)
    body = await find_user_assigned_identity(session, ref, missing_ok=True)
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
        return await session.graph_ops.get_service_principal(principal_id, what="managed identity")

    sp = await wait_for_consistency(session.retry, read)
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
    if for_federation and ("isExplicit=False" in alt or resource_type(resource_id) in SYSTEM_ASSIGNED_TYPES):
        raise usage_error(f"{principal_id} is the system-assigned identity of "
                          f"{identity_label(resource_id) or 'a resource'}: it cannot be federated",
                          code="SystemAssignedIdentity", object=resource_id or principal_id,
                          fix=SYSTEM_ASSIGNED_EXPLANATION)
    return {"principalId": sp["id"], "clientId": sp.get("appId", ""), "name": sp.get("displayName", ""),
            "id": resource_id}
