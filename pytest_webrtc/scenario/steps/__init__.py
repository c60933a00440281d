"""The step vocabulary, one module per family behind the one registry (:mod:`..registry`).

========================  ==============================================================
family                    step kinds
========================  ==============================================================
``signaling``             join, offer, answer, candidates, bye, leave, expect-signaling
``connectivity``          stun, wait, expect-peer, expect-stun, nat-discovery
``data``                  channel, data
``media``                 track, direction, remove-track, expect-media, expect-stats
``sfu``                   connect, expect-sfu
``wire``                  expect-wire
``conformance``           stun-conformance, signaling-conformance
``whip``                  publish, play (WHIP/WHEP over HTTP)
``network``               network (a peer's link conditions, outages and faults, mid-run)
``interop``               call (a stack: peer calls another by itself: the interop matrix)
========================  ==============================================================
"""

from __future__ import annotations

from ...errors import Expectation
from ..registry import STEPS, Need, StepKind, step
from . import conformance, connectivity, data, interop, media, network, sfu, signaling, whip, wire

__all__ = ["FAMILIES", "STEPS", "Expectation", "Need", "StepKind", "step"]

FAMILIES = {
    module.__name__.rsplit(".", 1)[-1]: module
    for module in (signaling, connectivity, data, media, sfu, wire, conformance, whip, network, interop)
}
