"""What a step reports: one ``Change`` per object (create / update / delete / unchanged).

A step that depends on an object an earlier step would create (in plan mode) sees it as a
``planned(...)`` placeholder and reports its own change as "after ... is created" instead of
failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ``undeclared``: an object the app holds that the file does not declare (steps/undeclared.py):
# shown as ``!`` "not in file"; not a change (``changed`` is False: ``up`` leaves it alone and
# ``plan --detailed-exitcode`` ignores it); ``verify`` fails on it; ``up --prune`` deletes it.
ACTIONS = ("create", "update", "delete", "unchanged", "undeclared")
PAST = {"create": "created", "update": "updated", "delete": "deleted", "unchanged": "unchanged",
        "undeclared": "not in file"}
FUTURE = {"create": "would create", "update": "would update", "delete": "would delete",
          "unchanged": "unchanged", "undeclared": "not in file"}
SYMBOL = {"create": "+", "update": "~", "delete": "-", "unchanged": "=", "undeclared": "!"}


class _Planned(dict):
    """Placeholder for an object a previous step would create (plan mode only)."""

    def __repr__(self) -> str:
        return "PLANNED"


def planned(**known: Any) -> dict:
    """A PLANNED placeholder carrying what is already known (e.g. the uniqueName)."""
    return _Planned(known)


def is_planned(obj: Any) -> bool:
    return isinstance(obj, _Planned)


@dataclass
class Change:
    """One object's outcome: what kind, which one, what happens to it and why."""

    kind: str                         # application, servicePrincipal, federatedIdentityCredential, ...
    name: str                         # how the user names it
    action: str                       # create | update | delete | unchanged | undeclared
    ids: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    fields: tuple[str, ...] = ()      # the managed fields that differ (update)
    before: Any = None                # what the server held (managed fields)
    after: Any = None                 # what is wanted / what the server holds after apply
    applied: bool = False
    notes: tuple[str, ...] = ()       # what the user must know (e.g. ownership != token access)
    confirm: str = ""                 # what the user must say yes to before the write (e.g. restarts)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")

    @property
    def changed(self) -> bool:
        return self.action not in ("unchanged", "undeclared")

    @property
    def outcome(self) -> str:
        """created/updated/deleted/unchanged once applied; would create/... in plan mode."""
        return PAST[self.action] if self.applied or not self.changed else FUTURE[self.action]

    @property
    def symbol(self) -> str:
        return SYMBOL[self.action]

    def as_dict(self) -> dict:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "action": self.action,
                               "outcome": self.outcome, "ids": dict(self.ids)}
        if self.reason:
            out["reason"] = self.reason
        if self.fields:
            out["fields"] = list(self.fields)
        if self.notes:
            out["notes"] = list(self.notes)
        return out
