"""The step kinds, in the order their steps run within a chain (``down`` reverses it).

Adding a step kind: write ``steps/<kind>.py`` with its step class and ``STEP = StepKind(...)``
(engine/kind.py says what it declares), add its typed client calls, and add one line here. The
engine (engine/runner.py) is handed ``KINDS`` and names no kind itself.
"""

from __future__ import annotations

from ..engine.kind import StepKind
from . import (application, consent, federation, identity_grant, owners, permissions, role_assignment,
               service_principal, undeclared, user_identity, vm_identity)

KINDS: tuple[StepKind, ...] = (
    user_identity.STEP,
    vm_identity.STEP,          # identity attachments: VM, scale set, container group
    application.STEP,
    service_principal.STEP,
    permissions.STEP,
    consent.STEP,
    owners.STEP,
    federation.STEP,
    identity_grant.STEP,       # [[identity.permission]]: app roles granted to the identity itself
    *role_assignment.KINDS,    # Azure roles: [[identity.role_assignment]], [[app.role_assignment]]
    undeclared.STEP,           # last in the app's links chain: what the app holds undeclared (! not in file)
)


def labels() -> dict[str, str]:
    """``Change.kind`` -> how ``verify`` names its check."""
    out: dict[str, str] = {}
    for kind in KINDS:
        out.update(kind.labels)
    return out
