"""The step engine: observe -> diff -> act -> re-read, with plan mode = stop before act.

    engine/change.py    Change (what a step reports) and the planned(...) placeholder
    engine/kind.py      StepKind: what each step kind declares in its own module
    engine/runner.py    run_steps (single commands) and run (the bootstrap file): checks, phases,
                        chains, concurrency, per-resource locks
    (steps/registry.py  the list of step kinds, one line each, handed to ``run``)
"""

from __future__ import annotations

from .change import ACTIONS, FUTURE, PAST, SYMBOL, Change, is_planned, planned
from .kind import BuildContext, StepKind
from .runner import Outcome, result_values, run, run_step, run_steps

__all__ = ["ACTIONS", "FUTURE", "PAST", "SYMBOL", "Change", "is_planned", "planned", "BuildContext",
           "StepKind", "Outcome", "result_values", "run", "run_step", "run_steps"]
