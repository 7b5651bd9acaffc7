"""What the steps, the lookups and the package's validators share, below all of them (imports
nothing from ``steps``): how objects are named in messages, and which ARM resource types carry a
system-assigned identity.
"""

from __future__ import annotations

from ..spec.rules import SYSTEM_ASSIGNED_EXPLANATION, SYSTEM_ASSIGNED_TYPES, resource_type  # noqa: F401


def app_label(ref: str) -> str:
    return f"application '{ref}'"


def identity_label(value: str) -> str:
    return value.rstrip("/").rsplit("/", 1)[-1]
