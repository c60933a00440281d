"""YAML scenarios: loader (keeps lines) <- model (schema) <- steps <- runner."""

from .model import Scenario, Step, is_scenario_file, load_scenario
from .runner import RunResult, run_scenario

__all__ = ["RunResult", "Scenario", "Step", "is_scenario_file", "load_scenario", "run_scenario"]
