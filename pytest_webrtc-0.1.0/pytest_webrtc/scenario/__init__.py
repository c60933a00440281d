"""YAML scenarios: loader (keeps lines) <- model <- context <- registry <- steps <- plan, world <- runner.

The dependencies point one way: the model knows the schema and peer kinds; the context is the
world and the run's state; the step families register in the registry; ``load_scenario`` (plan)
checks each step's needs against the peers' kinds; the runner builds the world and runs the steps.
Names load on first use, so the plugin's collection test (``is_scenario_file``) costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .files import is_scenario_file

__all__ = [
    "RunOptions",
    "RunResult",
    "Scenario",
    "Step",
    "StepResult",
    "is_scenario_file",
    "load_scenario",
    "run_scenario",
]

_LAZY = {
    "RunOptions": "runner",
    "RunResult": "results",
    "Scenario": "model",
    "Step": "model",
    "StepResult": "results",
    "load_scenario": "plan",
    "run_scenario": "runner",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_webrtc.scenario' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .model import Scenario, Step
    from .plan import load_scenario
    from .results import RunResult, StepResult
    from .runner import RunOptions, run_scenario
