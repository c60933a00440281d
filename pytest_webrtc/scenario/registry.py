"""The step registry: one entry per step kind, with what the step needs of the peers it names.

A step function takes the run context and the step, and returns a one-line summary of what
it did and checked, or raises :class:`~pytest_webrtc.errors.Expectation` (or a PeerError,
SignalingError) saying what was expected and what happened.  Step kinds are grouped by family
in :mod:`pytest_webrtc.scenario.steps`; adding one is a function there with ``@step(...)``, its
entry in ``schema.json`` and its section in docs/scenarios.md (tests hold the three together).

``needs`` lets the scenario be refused at load time, with file:line, when a step names a peer
whose kind cannot do it ("step 5 (track): bob is an external program (command:) and cannot
be told to add a track").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..peer.interface import Capability
from .model import Step

if TYPE_CHECKING:
    from .context import RunContext

__all__ = ["STEPS", "Need", "StepFunction", "StepKind", "need", "step"]

StepFunction = Callable[["RunContext", Step], Awaitable[str]]


@dataclass(frozen=True)
class Need:
    """The peers named by argument ``key`` must have one of ``any_of`` to be ``what`` the step does."""

    key: str  # "peer", "peers", "from", "to", "between", "forwarding" (its keys)
    any_of: frozenset[Capability]
    what: str  # "be told to add a track": completes "bob is <kind> and cannot ..."
    when: tuple[str, ...] = ()  # only when one of these arguments is given ("key=value": has that value)

    def applies(self, args: dict[str, object]) -> bool:
        def given(condition: str) -> bool:
            key, _, value = condition.partition("=")
            if not value:
                return key in args
            present = args.get(key)
            return present == value or (isinstance(present, list) and value in present)

        return not self.when or any(given(condition) for condition in self.when)


def need(key: str, *any_of: Capability, what: str, when: tuple[str, ...] = ()) -> Need:
    return Need(key, frozenset(any_of), what, when)


@dataclass(frozen=True)
class StepKind:
    name: str
    run: StepFunction
    family: str  # the module that defines it: signaling, connectivity, data, media, sfu, wire, conformance
    needs: tuple[Need, ...] = ()


STEPS: dict[str, StepKind] = {}


def step(kind: str, *needs: Need) -> Callable[[StepFunction], StepFunction]:
    """Register a step function under ``kind`` (once)."""

    def register(fn: StepFunction) -> StepFunction:
        if kind in STEPS:
            raise ValueError(f"step kind {kind!r} is registered twice")
        STEPS[kind] = StepKind(kind, fn, fn.__module__.rsplit(".", 1)[-1], tuple(needs))
        return fn

    return register
