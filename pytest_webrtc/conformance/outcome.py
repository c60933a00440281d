"""How a conformance check ends: it returns what it measured (pass), or raises Fail or Skip.

A check is a coroutine judging one rule of the catalogue (:mod:`pytest_webrtc.rules`);
:func:`judge` turns its ending into the one result type, a :class:`~pytest_webrtc.rules.Finding`
whose outcome follows the rule's level when it is broken (MUST -> fail, SHOULD -> warn,
MAY -> info).
"""

from __future__ import annotations

from collections.abc import Awaitable

from ..rules import Finding

__all__ = ["Fail", "Skip", "judge"]


class Fail(Exception):
    """The rule is broken; the message says what came back."""


class Skip(Exception):
    """The rule cannot be judged here (a feature not claimed, no credentials); the message says why."""


async def judge(rule_id: str, check: Awaitable[str]) -> Finding:
    try:
        return Finding(rule_id, await check, "pass")
    except Skip as skip:
        return Finding(rule_id, str(skip), "skip")
    except Fail as failure:
        return Finding(rule_id, str(failure))
