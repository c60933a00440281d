"""pytest-webrtc: a pytest plugin and conformance harness for WebRTC.

The public surface is ``__all__`` (docs/api.md lists it); names load on first use, so
``import pytest_webrtc`` stays cheap for projects that only have the plugin installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# name -> the module that defines it
_SURFACE: dict[str, str] = {
    # errors (the tree is drawn in pytest_webrtc.errors)
    "WebRTCHarnessError": "errors",
    "StunError": "errors",
    "StunDecodeError": "errors",
    "StunCheckError": "errors",
    "StunTransactionError": "errors",
    "HarnessConfigError": "errors",
    "AddressError": "errors",
    "SignalingError": "errors",
    "PeerError": "errors",
    "CaptureUnavailable": "errors",
    "Expectation": "errors",
    "ScenarioError": "errors",
    "StepFailure": "errors",
    # rules and findings
    "RULES": "rules",
    "Finding": "rules",
    "Level": "rules",
    "Rule": "rules",
    # addresses
    "Address": "addresses",
    "format_hostport": "addresses",
    "parse_hostport": "addresses",
    # the STUN codec and its strict checks
    "Message": "stun",
    "MessageClass": "stun",
    "Method": "stun",
    "check": "stun",
    "decode": "stun",
    # servers and actors
    "StunServer": "stun.server",
    "ShortTermAuth": "stun.auth",
    "LongTermAuth": "stun.auth",
    "SignalingServer": "signaling.server",
    "Sfu": "sfu.server",
    "Mcu": "sfu.mcu",
    "WhipServer": "whip.server",
    "WhipSession": "whip.client",
    # peers
    "PeerAgent": "peer.agent",
    "PEER_KINDS": "peer.kinds",
    "Capability": "peer.interface",
    "Peer": "peer.interface",
    "SignalingPeer": "peer.interface",
    "CommandablePeer": "peer.interface",
    "MediaPeer": "peer.interface",
    "HttpOfferPeer": "peer.interface",
    # scenarios
    "Scenario": "scenario",
    "RunOptions": "scenario",
    "RunResult": "scenario",
    "load_scenario": "scenario",
    "run_scenario": "scenario",
    # captures and verdicts
    "Verdict": "capture.verify",
    "WireContext": "capture.verify",
    "verify": "capture.verify",
    "inspect_capture": "inspect",
    # conformance of other projects' servers
    "StunTarget": "conformance.stun",
}

__all__ = [
    "__version__",
    "WebRTCHarnessError",
    "StunError",
    "StunDecodeError",
    "StunCheckError",
    "StunTransactionError",
    "HarnessConfigError",
    "AddressError",
    "SignalingError",
    "PeerError",
    "CaptureUnavailable",
    "Expectation",
    "ScenarioError",
    "StepFailure",
    "RULES",
    "Finding",
    "Level",
    "Rule",
    "Address",
    "format_hostport",
    "parse_hostport",
    "Message",
    "MessageClass",
    "Method",
    "check",
    "decode",
    "StunServer",
    "ShortTermAuth",
    "LongTermAuth",
    "SignalingServer",
    "Sfu",
    "Mcu",
    "WhipServer",
    "WhipSession",
    "PeerAgent",
    "PEER_KINDS",
    "Capability",
    "Peer",
    "SignalingPeer",
    "CommandablePeer",
    "MediaPeer",
    "HttpOfferPeer",
    "Scenario",
    "RunOptions",
    "RunResult",
    "load_scenario",
    "run_scenario",
    "Verdict",
    "WireContext",
    "verify",
    "inspect_capture",
    "StunTarget",
]


def __getattr__(name: str) -> Any:
    module = _SURFACE.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_webrtc' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from .addresses import Address, format_hostport, parse_hostport
    from .capture.verify import Verdict, WireContext, verify
    from .conformance.stun import StunTarget
    from .errors import (
        AddressError,
        CaptureUnavailable,
        Expectation,
        HarnessConfigError,
        PeerError,
        ScenarioError,
        SignalingError,
        StepFailure,
        StunCheckError,
        StunDecodeError,
        StunError,
        StunTransactionError,
        WebRTCHarnessError,
    )
    from .inspect import inspect_capture
    from .peer.agent import PeerAgent
    from .peer.interface import Capability, CommandablePeer, HttpOfferPeer, MediaPeer, Peer, SignalingPeer
    from .peer.kinds import PEER_KINDS
    from .rules import RULES, Finding, Level, Rule
    from .scenario import RunOptions, RunResult, Scenario, load_scenario, run_scenario
    from .sfu.mcu import Mcu
    from .sfu.server import Sfu
    from .signaling.server import SignalingServer
    from .stun import Message, MessageClass, Method, check, decode
    from .stun.auth import LongTermAuth, ShortTermAuth
    from .stun.server import StunServer
    from .whip.client import WhipSession
    from .whip.server import WhipServer
