"""Keys for MESSAGE-INTEGRITY(-SHA256): short-term and long-term credentials (RFC 8489 §9).

Passwords are prepared with SASLprep (RFC 4013), as RFC 5389 and the RFC 5769
test vectors do; for ASCII input this is the identity, like RFC 8489's
OpaqueString profile (RFC 8265), which is also available.
"""

from __future__ import annotations

import hashlib
import stringprep
import unicodedata
from collections.abc import Callable
from typing import Literal

__all__ = [
    "PASSWORD_ALGORITHM_MD5",
    "PASSWORD_ALGORITHM_SHA256",
    "long_term_key",
    "opaque_string",
    "saslprep",
    "short_term_key",
    "userhash",
]

PASSWORD_ALGORITHM_MD5 = 0x0001  # RFC 8489 §18.5
PASSWORD_ALGORITHM_SHA256 = 0x0002

Prep = Literal["saslprep", "opaque"]

_PROHIBITED: tuple[Callable[[str], bool], ...] = (
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
)


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep (stored-string rules): map, NFKC, prohibit, check bidi."""
    # §2.1 mapping: non-ASCII spaces -> SPACE, "commonly mapped to nothing" -> removed.
    mapped = "".join(" " if stringprep.in_table_c12(ch) else ch for ch in text if not stringprep.in_table_b1(ch))
    normalized = unicodedata.normalize("NFKC", mapped)
    for ch in normalized:
        if any(table(ch) for table in _PROHIBITED) or stringprep.in_table_a1(ch):
            raise ValueError(f"SASLprep: prohibited character U+{ord(ch):04X}")
    # RFC 3454 §6 bidirectional rule.
    if any(stringprep.in_table_d1(ch) for ch in normalized):
        if any(stringprep.in_table_d2(ch) for ch in normalized):
            raise ValueError("SASLprep: mixes right-to-left and left-to-right text")
        if not (stringprep.in_table_d1(normalized[0]) and stringprep.in_table_d1(normalized[-1])):
            raise ValueError("SASLprep: right-to-left text must start and end with a right-to-left character")
    return normalized


def opaque_string(text: str) -> str:
    """RFC 8265 §4.2 OpaqueString enforcement: non-ASCII spaces -> SPACE, NFC, no controls."""
    mapped = "".join(" " if unicodedata.category(ch) == "Zs" else ch for ch in text)
    normalized = unicodedata.normalize("NFC", mapped)
    for ch in normalized:
        if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
            raise ValueError(f"OpaqueString: disallowed character U+{ord(ch):04X}")
    if not normalized:
        raise ValueError("OpaqueString: empty string")
    return normalized


def _prepare(text: str, prep: Prep) -> str:
    return saslprep(text) if prep == "saslprep" else opaque_string(text)


def short_term_key(password: str, prep: Prep = "saslprep") -> bytes:
    """RFC 8489 §9.1.1: the key is the prepared password itself."""
    return _prepare(password, prep).encode("utf-8")


def long_term_key(
    username: str,
    realm: str,
    password: str,
    algorithm: int = PASSWORD_ALGORITHM_MD5,
    prep: Prep = "saslprep",
) -> bytes:
    """RFC 8489 §9.2.2: H(username ":" realm ":" password), H being MD5 or SHA-256."""
    material = f"{username}:{_prepare(realm, prep)}:{_prepare(password, prep)}".encode()
    if algorithm == PASSWORD_ALGORITHM_MD5:
        return hashlib.md5(material).digest()
    if algorithm == PASSWORD_ALGORITHM_SHA256:
        return hashlib.sha256(material).digest()
    raise ValueError(f"unknown password algorithm 0x{algorithm:04x}")


def userhash(username: str, realm: str) -> bytes:
    """RFC 8489 §14.4: SHA-256(OpaqueString(username) ":" OpaqueString(realm))."""
    return hashlib.sha256(f"{opaque_string(username)}:{opaque_string(realm)}".encode()).digest()
