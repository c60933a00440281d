"""Named RFC violations found in STUN bytes.

Every rule has a stable name (used in reports, JSON verdicts and tests) and the
RFC section it comes from.  ``RULES`` is the catalogue; docs/stun.md lists it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RULES", "Violation"]

# rule name -> (RFC section, what the rule demands)
RULES: dict[str, tuple[str, str]] = {
    "header.short": ("RFC 8489 §5", "a STUN message has a 20-byte header"),
    "header.top-bits": ("RFC 8489 §5", "the two most significant bits of a STUN message are zero"),
    "header.length-alignment": ("RFC 8489 §5", "the message length is a multiple of 4"),
    "header.length-mismatch": ("RFC 8489 §6.3", "the message length matches the bytes that carry the message"),
    "header.magic-cookie": ("RFC 8489 §5", "the magic cookie field holds 0x2112A442"),
    "attribute.truncated": ("RFC 8489 §14", "an attribute (header, value and padding) lies inside the message"),
    "attribute.value": ("RFC 8489 §14", "an attribute value has the format and length its definition gives"),
    "attribute.text-length": ("RFC 8489 §14", "a text attribute stays under its encoding limit"),
    "attribute.duplicate": ("RFC 8489 §14", "an attribute appears once; receivers ignore later copies"),
    "address.family": ("RFC 8489 §14.1", "an address family is 0x01 (IPv4) or 0x02 (IPv6), matching the length"),
    "address.reserved": ("RFC 8489 §14.1", "the first byte of an address attribute is zero"),
    "integrity.position": ("RFC 8489 §14.5", "only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT follow MESSAGE-INTEGRITY"),
    "integrity.missing": ("RFC 8489 §9.1.3", "a message checked with credentials carries MESSAGE-INTEGRITY(-SHA256)"),
    "integrity.mismatch": ("RFC 8489 §14.5", "MESSAGE-INTEGRITY is the HMAC-SHA1 of the message under the key"),
    "integrity-sha256.position": ("RFC 8489 §14.6", "only FINGERPRINT follows MESSAGE-INTEGRITY-SHA256"),
    "integrity-sha256.mismatch": ("RFC 8489 §14.6", "MESSAGE-INTEGRITY-SHA256 is the HMAC-SHA256 of the message"),
    "fingerprint.mismatch": ("RFC 8489 §14.7", "FINGERPRINT is CRC-32 of the message XOR 0x5354554E"),
    "fingerprint.position": ("RFC 8489 §14.7", "FINGERPRINT is the last attribute"),
    "fingerprint.missing": ("RFC 8445 §7.1.1", "ICE connectivity checks carry FINGERPRINT"),
    "error-response.error-code": ("RFC 8489 §14.8", "an error response carries ERROR-CODE"),
    "error-420.unknown-attributes": ("RFC 8489 §14.13", "a 420 response lists the UNKNOWN-ATTRIBUTES"),
    "binding.xor-mapped-address": ("RFC 8489 §7.3.1", "a Binding success response carries XOR-MAPPED-ADDRESS"),
}


@dataclass(frozen=True)
class Violation:
    """One broken rule in one message.

    ``offset`` is the byte offset in the message where the problem sits (the
    attribute header for attribute rules), or ``None`` for the whole message.
    """

    rule: str
    detail: str
    section: str = ""
    offset: int | None = None

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}")
        if not self.section:
            object.__setattr__(self, "section", RULES[self.rule][0])

    def __str__(self) -> str:
        where = f" at byte {self.offset}" if self.offset is not None else ""
        return f"{self.rule} ({self.section}){where}: {self.detail}"
