"""The SRTP keying material of one of the harness's own aiortc peers, for the wire verdict.

A harness peer's report carries the key and salt it sends with (RFC 5764 §4.2: derived from the
DTLS handshake by the exporter ``EXTRACTOR-dtls_srtp``) and the libsrtp profile, so the verdict can
read what SRTCP and SRTP encrypt: the sequence numbers a NACK lists, an RTX packet's original
sequence number (``capture.feedback``).  This is the keylog of a test session between test peers,
as SSLKEYLOGFILE is for TLS; foreign stacks do not report one, and their traffic is judged on what
is in clear.  It reads aiortc's DTLS transport, so anything unexpected there gives no key, never
an error.
"""

from __future__ import annotations

from typing import Any

__all__ = ["srtp_keying"]

EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"


def srtp_keying(transport: Any) -> list[dict[str, Any]]:
    """``[{"profile": libsrtp profile, "tx": hex key+salt}]`` of an established aiortc DTLS transport, else ``[]``."""
    try:
        if transport is None or getattr(transport, "state", None) != "connected":
            return []
        ssl = transport._ssl
        selected = ssl.get_selected_srtp_profile()
        profile = next(p for p in transport._srtp_profiles if p.openssl_profile == selected)
        material = ssl.export_keying_material(EXPORTER_LABEL, 2 * (profile.key_length + profile.salt_length))
        # RFC 5764 §4.2: client write key first, then the server's; so the salts
        tx = profile.get_key_and_salt(material, 1 if transport._role == "server" else 0)
        return [{"profile": int(profile.libsrtp_profile), "tx": bytes(tx).hex()}]
    except Exception:  # aiortc's internals are not an interface: no key rather than a broken report
        return []
