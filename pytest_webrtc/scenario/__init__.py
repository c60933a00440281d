"""YAML scenarios: loader (keeps lines) <- model <- context <- registry <- steps <- plan, world <- runner.

The dependencies point one way: the model knows the schema and peer kinds; the context is the
world and the run's state; the step families register in the registry; ``load_scenario`` (plan)
checks each step's needs against the peers' kinds; the runner builds the world and runs the steps.
"""

from .model import Scenario, Step, is_scenario_file
from .plan import load_scenario
from .results import RunResult, StepResult
from .runner import RunOptions, run_scenario

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
