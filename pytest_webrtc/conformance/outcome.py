"""How a conformance check ends: it returns what it measured (pass), or raises Fail, Info or Skip.

A check is a coroutine judging one rule of the catalogue (:mod:`pytest_webrtc.rules`);
:func:`judge` turns its ending into the one result type, a :class:`~pytest_webrtc.rules.Finding`.
A broken rule's outcome follows its level (MUST -> fail, SHOULD -> warn, MAY -> info), unless
the check says otherwise: a MAY the user claimed (``Fail(..., outcome="fail")``) fails.
"""

from __future__ import annotations

from collections.abc import Awaitable

from ..rules import Finding

__all__ = ["Accepted", "Fail", "Info", "Silent", "Skip", "judge"]


class Fail(Exception):
    """The rule is broken; the message says what came back."""

    def __init__(self, detail: str, outcome: str = "") -> None:
        super().__init__(detail)
        self.outcome = outcome


class Accepted(Fail):
    """A request the server must refuse got a success."""


class Silent(Fail):
    """Nothing came back: no answer, no connection."""


class Info(Exception):
    """An optional feature the server does not use, said as information (never a failure)."""


class Skip(Exception):
    """The rule cannot be judged here (a feature not claimed, a broken baseline); the message says why."""


async def judge(rule_id: str, check: Awaitable[str]) -> Finding:
    try:
        return Finding(rule_id, await check, "pass")
    except Skip as skip:
        return Finding(rule_id, str(skip), "skip")
    except Info as info:
        return Finding(rule_id, str(info), "info")
    except Fail as failure:
        return Finding(rule_id, str(failure), failure.outcome)
