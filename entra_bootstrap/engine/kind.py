"""What a step kind declares, in its own module (``STEP = StepKind(...)`` at the bottom of
``steps/<kind>.py``), for the engine to run it without naming it.

A *step* is an object with ``kind`` and two coroutines:

    ``plan(session)``            reads only (GET) and returns the ``Change`` list it would make
    ``apply(session, changes)``  performs the writes of the changes that are not ``unchanged``
                                 and returns them as re-read from the server (ids filled in)

A *step kind* says where its steps come from and how the engine orders them:

    name         the ``Change.kind`` its steps report (and the key of ``labels``)
    section      the part of the bootstrap file it reads ("identity", "app.federation", ...)
    file_section a ``spec.Section`` when the kind brings keys of its own to the file (e.g.
                 ``[[identity.role_assignment]]``): the loader then reads and checks them and
                 the kind's ``steps`` find them as ``entry.part(KEY)``
    steps        ``steps(spec, ctx)`` -> ``(order, chain, step)`` for each object the file declares;
                 steps of one ``chain`` run one after the other (an app, then its service principal);
                 chains run concurrently, ordered by ``order``
    phase        ``up``/``plan``: phase 1 (identities, apps) or 2 (owners, credentials: they need
                 the identities); ``down_phase`` the same for ``down`` (1 runs first)
    check        ``await check(spec, session)``: read-only checks of what the file references but
                 does not declare, run for every kind before any step of any kind acts
    labels       how ``verify`` names the check of each ``Change.kind`` the steps report
    needs        the Microsoft Graph permissions / ARM roles the operator needs (least privilege)
    export       ``export(values, change)``: the ids a script needs next (``up -o json``'s result),
                 called for the changes of ``name`` and of every ``Change.kind`` in ``labels``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Mapping


@dataclass(frozen=True)
class BuildContext:
    """What the runner hands to ``StepKind.steps``."""

    present: bool = True                          # up/plan; False for down
    confirm: Callable[[Any], None] | None = None  # asked before a disruptive write (container group)
    upgrade_instances: bool = False               # --upgrade-instances: scale sets with a Manual policy
    prune: bool = False                           # --prune: remove what the apps hold undeclared


@dataclass(frozen=True)
class StepKind:
    name: str
    section: str
    steps: Callable[[Any, BuildContext], Iterable[tuple[tuple, str, Any]]]
    phase: int = 1
    down_phase: int = 1
    labels: Mapping[str, str] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    check: Callable[[Any, Any], Awaitable[None]] | None = None
    export: Callable[[dict, Any], None] | None = None
    file_section: Any = None                      # spec.Section
