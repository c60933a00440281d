from __future__ import annotations

import hashlib

import pytest

from pytest_webrtc.stun.credentials import (
    PASSWORD_ALGORITHM_SHA256,
    long_term_key,
    opaque_string,
    saslprep,
    short_term_key,
    userhash,
)


@pytest.mark.parametrize(
    "given, prepared",
    [
        ("I\u00adX", "IX"),  # RFC 4013 §3 examples: soft hyphen mapped to nothing
        ("user", "user"),
        ("\u00aa", "a"),  # NFKC
        ("\u2168", "IX"),
        ("a\u00a0b", "a b"),  # non-ASCII space -> SPACE
    ],
)
def test_saslprep_rfc4013_examples(given: str, prepared: str) -> None:
    assert saslprep(given) == prepared


@pytest.mark.parametrize("bad", ["\u0007", "a\u0627\u0031", "\ud800"])
def test_saslprep_prohibits(bad: str) -> None:
    with pytest.raises(ValueError, match="SASLprep"):
        saslprep(bad)


def test_opaque_string_keeps_compatibility_characters_but_maps_spaces() -> None:
    assert opaque_string("\u2168\u00a0x") == "\u2168 x"
    with pytest.raises(ValueError):
        opaque_string("tab\there")


def test_keys() -> None:
    assert short_term_key("pass") == b"pass"
    assert long_term_key("u", "r", "p") == hashlib.md5(b"u:r:p").digest()
    assert long_term_key("u", "r", "p", PASSWORD_ALGORITHM_SHA256) == hashlib.sha256(b"u:r:p").digest()
    assert userhash("u", "r") == hashlib.sha256(b"u:r").digest()
    with pytest.raises(ValueError, match="unknown password algorithm"):
        long_term_key("u", "r", "p", 7)
