"""Loading a scenario: the model's parse, then what needs the step registry.

``load_scenario(path)`` reads, validates and returns a :class:`~.model.Scenario`.  Beyond the
schema and peer names (the model's checks), every step's needs are checked against the kinds
of the peers it names, before anything runs: a step that asks a peer for what its kind cannot
do is a :class:`~pytest_webrtc.errors.ScenarioError` with file:line.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ScenarioError
from .model import Scenario, Step, parse_scenario
from .steps import STEPS

__all__ = ["check_capabilities", "load_scenario"]


def load_scenario(path: str | Path, text: str | None = None, directory: str | Path | None = None) -> Scenario:
    """Read a scenario file; ScenarioError names file, line, column and what was expected.

    ``directory``: where the file really is, when ``path`` is relative to something else than the
    current directory (pytest's rootdir); external peer programs run there."""
    scenario = parse_scenario(path, text, directory)
    check_capabilities(scenario)
    return scenario


def _named(step: Step, key: str) -> list[str]:
    value = step.args.get(key)
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, dict)):
        return [str(v) for v in value]
    return []


def check_capabilities(scenario: Scenario) -> None:
    """Refuse a step that names a peer whose kind lacks what the step needs of it."""
    for step in scenario.steps:
        for need in STEPS[step.kind].needs:
            if not need.applies(step.args):
                continue
            for name in _named(step, need.key):
                spec = scenario.peers.get(name)
                if spec is None or need.any_of & spec.kind.capabilities:
                    continue  # an unknown name is the model's error; a server actor is not a peer
                node = ("steps", step.index - 1, step.kind, need.key)
                message = f"step {step.index} ({step.kind}): {name} is {spec.kind.description} and cannot {need.what}"
                if scenario.located is not None:
                    raise scenario.located.error(message, node)
                raise ScenarioError(message, scenario.path, step.line)
