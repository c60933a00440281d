"""The strict codec's rules: what one STUN message's bytes must satisfy.

Every rule has a stable name (used in reports, JSON verdicts and tests), the RFC section it
comes from and its requirement level; ``RULES`` is this family of the one catalogue
(:mod:`pytest_webrtc.rules`), listed in docs/stun.md.  A broken rule is a
:class:`~pytest_webrtc.rules.Finding`, called ``Violation`` here.
"""

from __future__ import annotations

from ..rules import Finding, Rule, rule

__all__ = ["RULES", "Violation"]

Violation = Finding

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        rule("header.short", "RFC 8489 §5", "a STUN message has a 20-byte header"),
        rule("header.top-bits", "RFC 8489 §5", "the two most significant bits of a STUN message are zero"),
        rule("header.length-alignment", "RFC 8489 §5", "the message length is a multiple of 4"),
        rule("header.length-mismatch", "RFC 8489 §6.3", "the message length matches the bytes that carry the message"),
        rule("header.magic-cookie", "RFC 8489 §5", "the magic cookie field holds 0x2112A442"),
        rule("attribute.truncated", "RFC 8489 §14", "an attribute (header, value and padding) lies inside the message"),
        rule("attribute.value", "RFC 8489 §14", "an attribute value has the format and length its definition gives"),
        rule("attribute.text-length", "RFC 8489 §14", "a text attribute stays under its encoding limit"),
        rule("attribute.duplicate", "RFC 8489 §14", "an attribute appears once; receivers ignore later copies"),
        rule(
            "address.family", "RFC 8489 §14.1", "an address family is 0x01 (IPv4) or 0x02 (IPv6), matching the length"
        ),
        rule("address.reserved", "RFC 8489 §14.1", "the first byte of an address attribute is zero"),
        rule(
            "integrity.position",
            "RFC 8489 §14.5",
            "only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT follow MESSAGE-INTEGRITY",
        ),
        rule(
            "integrity.missing",
            "RFC 8489 §9.1.3",
            "a message checked with credentials carries MESSAGE-INTEGRITY(-SHA256)",
        ),
        rule("integrity.mismatch", "RFC 8489 §14.5", "MESSAGE-INTEGRITY is the HMAC-SHA1 of the message under the key"),
        rule("integrity-sha256.position", "RFC 8489 §14.6", "only FINGERPRINT follows MESSAGE-INTEGRITY-SHA256"),
        rule(
            "integrity-sha256.mismatch", "RFC 8489 §14.6", "MESSAGE-INTEGRITY-SHA256 is the HMAC-SHA256 of the message"
        ),
        rule("fingerprint.mismatch", "RFC 8489 §14.7", "FINGERPRINT is CRC-32 of the message XOR 0x5354554E"),
        rule("fingerprint.position", "RFC 8489 §14.7", "FINGERPRINT is the last attribute"),
        rule("fingerprint.missing", "RFC 8445 §7.1.1", "ICE connectivity checks carry FINGERPRINT"),
        rule("error-response.error-code", "RFC 8489 §14.8", "an error response carries ERROR-CODE"),
        rule("error-420.unknown-attributes", "RFC 8489 §14.13", "a 420 response lists the UNKNOWN-ATTRIBUTES"),
        rule("binding.xor-mapped-address", "RFC 8489 §7.3.1", "a Binding success response carries XOR-MAPPED-ADDRESS"),
    )
}
