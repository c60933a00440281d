"""Loading a scenario: the model's parse, then what needs the step registry.

``load_scenario(path)`` reads, validates and returns a :class:`~.model.Scenario`.  Beyond the
schema and peer names (the model's checks), every step's needs are checked against the kinds
of the peers it names, before anything runs: a step that asks a peer for what its kind cannot
do is a :class:`~pytest_webrtc.errors.ScenarioError` with file:line; so are steps in an order
that cannot work (an answer before its offer).  Every problem of the file is reported at once.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ScenarioError
from .model import Scenario, Step, parse_scenario
from .steps import STEPS
from .validate import raise_all

__all__ = ["capability_problems", "load_scenario", "order_problems"]


def load_scenario(path: str | Path, text: str | None = None, directory: str | Path | None = None) -> Scenario:
    """Read a scenario file; ScenarioError names file, line, column and what was expected.

    ``directory``: where the file really is, when ``path`` is relative to something else than the
    current directory (pytest's rootdir); external peer programs run there."""
    scenario = parse_scenario(path, text, directory)
    raise_all(capability_problems(scenario) + order_problems(scenario))
    return scenario


def _named(step: Step, key: str) -> list[str]:
    value = step.args.get(key)
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, dict)):
        return [str(v) for v in value]
    return []


def _error(scenario: Scenario, step: Step, key: str | None, message: str) -> ScenarioError:
    node = ("steps", step.index - 1, step.kind, key) if key else ("steps", step.index - 1)
    if scenario.located is not None:
        return scenario.located.error(message, node)
    return ScenarioError(message, scenario.path, step.line)


def capability_problems(scenario: Scenario) -> list[ScenarioError]:
    problems = []
    for step in scenario.steps:
        for need in STEPS[step.kind].needs:
            if not need.applies(step.args):
                continue
            for name in _named(step, need.key):
                spec = scenario.peers.get(name)
                if spec is None or need.any_of & spec.kind.capabilities:
                    continue  # an unknown name is the model's error; a server actor is not a peer
                message = f"step {step.index} ({step.kind}): {name} is {spec.kind.description} and cannot {need.what}"
                problems.append(_error(scenario, step, need.key, message))
    return problems


def order_problems(scenario: Scenario) -> list[ScenarioError]:
    """Steps in an order that cannot work, where the file alone says so: an answer before its offer,
    data between peers that never negotiated.  A step expected to fail is left alone."""
    problems = []
    offered: set[tuple[str, str]] = set()
    sessions: set[frozenset[str]] = set()
    for step in scenario.steps:
        sender, receiver = str(step.args.get("from", "")), str(step.args.get("to", ""))
        if step.kind == "offer":
            offered.add((sender, receiver))
            sessions.add(frozenset((sender, receiver)))
        elif step.kind == "answer" and (receiver, sender) not in offered and not step.expect_failure:
            problems.append(
                _error(
                    scenario,
                    step,
                    None,
                    f"step {step.index} (answer): {sender} answers {receiver}, but no earlier step has {receiver} "
                    f"offer to {sender}: add `- offer: {{from: {receiver}, to: {sender}}}` before it",
                )
            )
        elif (
            step.kind == "data"
            and sender in scenario.peers
            and receiver in scenario.peers
            and frozenset((sender, receiver)) not in sessions
            and not step.expect_failure
        ):
            problems.append(
                _error(
                    scenario,
                    step,
                    None,
                    f"step {step.index} (data): {sender} and {receiver} have not negotiated a connection yet: "
                    f"an offer/answer between them must come first",
                )
            )
    return problems
