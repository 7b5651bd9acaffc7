"""Idempotent steps (observe -> diff -> act -> re-read), the input checks they share, and the
lookups they share (re-exported from steps/lookups.py).

One module per resource: application, service_principal, permissions, consent, owners, federation
(Graph) and the identity steps (ARM: user_identity, vm_identity, container_identity over
identity_attachment). Each module declares its step kind (``STEP``; steps/registry.py lists them).
Lookups (steps/lookups.py) read an object once per run (``session.memo``) by its natural key -
never by display name - and know that a just-created object may not have replicated yet. Steps
send requests only through the named operations of clients/graph_ops.py (``session.graph_ops``)
and clients/arm.py. The input rules live in spec/rules.py (the flags and the bootstrap file share
them); the names below are re-exported for the steps and commands that use them.
"""

from __future__ import annotations

from ..clients.graph_ops import PERMISSIONS  # noqa: F401 - re-exported
from ..spec.rules import (GRAPH_API_NAMES, GUID_RE, SYSTEM_ASSIGNED_EXPLANATION,  # noqa: F401
                          SYSTEM_ASSIGNED_TYPES, UNIQUE_NAME_RE, check_app_ref, check_guid,
                          derive_unique_name, is_guid, looks_like_guid)
from ..spec.rules import api_app_id as _api_app_id
from ..spec.rules import check_managed_identity_ref as _check_managed_identity_ref
from .common import app_label, identity_label  # noqa: F401 - re-exported
# Re-exported: the lookups the steps share (steps/lookups.py imports nothing from this package).
from .lookups import (UserAssignedIdentity, find_application, find_service_principal,  # noqa: F401
                      find_user_assigned_identity, forget_application, remember_application,
                      remember_service_principal, remember_user_assigned_identity, require_application,
                      resolve_managed_identity, resolve_user_assigned_identity, resource_service_principal)


def api_app_id(api: str | None) -> str:
    """``--api``: "Microsoft Graph" (default) or the resource application's client id."""
    return _api_app_id(api, "--api")


def check_managed_identity_ref(value: str, option: str = "--managed-identity") -> None:
    """Offline: refuse compute resource ids (their identity is system-assigned) and odd ids."""
    _check_managed_identity_ref(value, option)
