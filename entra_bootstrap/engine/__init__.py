"""The step engine: observe -> diff -> act -> re-read, with plan mode = stop before act.

    engine/change.py    Change (what a step reports) and the planned(...) placeholder
    engine/kind.py      StepKind: what each step kind declares in its own module
    engine/runner.py    run_steps (single commands) and run (the bootstrap file): checks, phases,
                        chains, concurrency, per-resource locks
    (steps/registry.py  the list of step kinds, one line each, handed to ``run``)
"""

from __future__ import annotations

from typing import Any

from .change import ACTIONS, FUTURE, PAST, SYMBOL, Change, is_planned, planned
from .kind import BuildContext, StepKind

_RUNNER = ("Outcome", "result_values", "run", "run_step", "run_steps")


def __getattr__(name: str) -> Any:
    """The runner's names load it (and asyncio) on first use: ``--help`` and the renderers need
    only ``Change``."""
    if name in _RUNNER:
        from . import runner
        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["ACTIONS", "FUTURE", "PAST", "SYMBOL", "Change", "is_planned", "planned", "BuildContext",
           "StepKind", "Outcome", "result_values", "run", "run_step", "run_steps"]
