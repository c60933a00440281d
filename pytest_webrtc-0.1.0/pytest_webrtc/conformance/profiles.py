"""The profiles that judge STUN conformance: one list for the target, the CLI, the plugin and the schema.

Kept free of imports so the plugin's options can name them without loading the conformance code.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PROFILE", "PROFILES"]

PROFILES = {
    "rfc8489": "the base protocol's requirements (RFC 8489); optional mechanisms only when claimed",
    "webrtc": "what browsers and ICE agents need of a STUN server: the base protocol, and FINGERPRINT",
}
DEFAULT_PROFILE = "rfc8489"
