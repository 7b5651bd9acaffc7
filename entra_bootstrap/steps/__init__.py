"""Idempotent steps (observe -> diff -> act -> re-read), the input checks they share, and the
lookups they share (re-exported from steps/lookups.py).

One module per resource: application, service_principal, permissions, consent, owners, federation
(Graph) and the identity steps (ARM: user_identity, vm_identity, container_identity over
identity_attachment). Each step class follows ``engine.Step``. Lookups (steps/lookups.py) read an
object once per run (``session.memo``) by its natural key - never by display name - and know that
a just-created object may not have replicated yet. Steps send requests only through the named
operations of clients/graph_ops.py (``session.graph_ops``) and clients/arm.py.

``PERMISSIONS`` (clients/graph_ops.py) says which Microsoft Graph application permission each
step needs (least privilege first); a 403 names it, and README.md documents it.
"""

from __future__ import annotations

import re

from ..clients.graph import GRAPH_APP_ID
from ..clients.graph_ops import PERMISSIONS  # noqa: F401 - re-exported
from ..errors import usage_error
from .common import (SYSTEM_ASSIGNED_EXPLANATION, SYSTEM_ASSIGNED_TYPES, app_label, identity_label,  # noqa: F401
                     resource_type as _resource_type)
# Re-exported: the lookups the steps share (steps/lookups.py imports nothing from this package).
from .lookups import (UserAssignedIdentity, find_application, find_service_principal,  # noqa: F401
                      find_user_assigned_identity, forget_application, remember_application,
                      remember_service_principal, remember_user_assigned_identity, require_application,
                      resolve_managed_identity, resolve_user_assigned_identity, resource_service_principal)

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
UNIQUE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
GRAPH_API_NAMES = {"microsoft graph", "graph", GRAPH_APP_ID}


def is_guid(value: str) -> bool:
    return bool(GUID_RE.match(value or ""))


def looks_like_guid(value: str) -> bool:
    """Hex-and-dashes text meant as a GUID (so a malformed one is reported as such)."""
    v = value or ""
    if re.fullmatch(r"[{(]?\w{8}-\w{4}-\w{4}-\w{4}-\w{12}[})]?", v):     # the shape, a wrong character
        return True
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
    """The uniqueName used when ``app create`` is given none: NAME with accents dropped ("Café" ->
    "cafe"), lower-cased, every run of characters other than letters, digits, '.', '_' and '-'
    replaced by '-', trimmed to 120. "" when nothing is left (the caller asks for --unique-name:
    a fixed fallback would make unrelated names upsert the same app)."""
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    out = re.sub(r"[^a-z0-9._-]+", "-", ascii_name.strip().lower()).strip("-._")
    return out[:120].rstrip("-._")


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


def check_managed_identity_ref(value: str, option: str = "--managed-identity") -> None:
    """Offline: refuse compute resource ids (their identity is system-assigned) and odd ids."""
    value = (value or "").strip()
    if value.startswith("/"):
        rtype = _resource_type(value)
        if rtype in SYSTEM_ASSIGNED_TYPES:
            raise usage_error(f"{option} '{value}' is a {SYSTEM_ASSIGNED_TYPES[rtype]}: its identity is "
                              "system-assigned and cannot be federated", code="SystemAssignedIdentity",
                              fix=SYSTEM_ASSIGNED_EXPLANATION)
        if rtype != "microsoft.managedidentity/userassignedidentities":
            raise usage_error(f"{option} '{value}' is not a user-assigned identity resource id",
                              code="MalformedResourceId",
                              fix="use /subscriptions/SUB/resourceGroups/RG/providers/"
                                  "Microsoft.ManagedIdentity/userAssignedIdentities/NAME, or NAME with -g")
    elif not is_guid(value) and looks_like_guid(value) and len(value) >= 30:
        raise usage_error(f"{option} '{value}' looks like a principal id but is not a valid GUID",
                          code="MalformedGuid", fix="give the identity's principal id as "
                                                    "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, or its name with -g")
