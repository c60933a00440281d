"""The complete rule catalogue: every family imported, so that :data:`pytest_webrtc.rules.RULES` is whole.

Rule families register their rules when their module is imported; the docs tables, the JSON
Schema enums and the tests that every rule has a failing case are checked against
:func:`complete`.
"""

from __future__ import annotations

from . import demo
from .capture import consent, dtls, feedback, rtp, verify
from .conformance import peerjs, signaling, stun, turn, whip
from .rules import RULES, Rule
from .stun import violations

__all__ = ["FAMILIES", "complete"]

# family -> its rules, in the order the docs list them
FAMILIES: dict[str, dict[str, Rule]] = {
    "stun codec": violations.RULES,
    "wire": verify.WIRE_RULES,
    "rtp": rtp.RTP_RULES,
    "rtcp feedback and retransmission": feedback.FEEDBACK_RULES,
    "dtls": dtls.DTLS_RULES,
    "consent": consent.CONSENT_RULES,
    "stun conformance": stun.RULES,
    "turn conformance": turn.RULES,
    "signaling conformance": signaling.RULES,
    "peerjs conformance": peerjs.RULES,
    "whip conformance": {k: v for k, v in whip.RULES.items() if k.startswith("whip.")},
    "whep conformance": {k: v for k, v in whip.RULES.items() if k.startswith("whep.")},
    "demo": demo.DEMO_RULES,
}


def complete() -> dict[str, Rule]:
    """Every rule of every family."""
    return dict(RULES)
