"""STUN (RFC 8489): a strict codec, RFC checks, credentials, a client and a server.

Dependencies point one way: ``attributes`` <- ``message`` <- ``checks``;
``server`` and ``client`` use the codec and never the other way round.
"""

from .checks import check, check_message, decode_strict
from .message import Attribute, Message, MessageClass, Method, decode, looks_like_stun
from .violations import RULES, Violation

__all__ = [
    "RULES",
    "Attribute",
    "Message",
    "MessageClass",
    "Method",
    "Violation",
    "check",
    "check_message",
    "decode",
    "decode_strict",
    "looks_like_stun",
]
