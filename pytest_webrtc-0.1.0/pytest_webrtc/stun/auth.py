"""Server-side STUN authentication: short-term and long-term credentials (RFC 8489 §9).

An authenticator looks at a request and says either "go on, sign the response
with this key" or "answer with this error".  It never touches sockets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .credentials import (
    PASSWORD_ALGORITHM_MD5,
    PASSWORD_ALGORITHM_SHA256,
    long_term_key,
    short_term_key,
    userhash,
)
from .message import Message, integrity_of

__all__ = ["AuthResult", "Authenticator", "LongTermAuth", "ShortTermAuth"]

NONCE_COOKIE = "obMatJos2"  # RFC 8489 §9.2: marks a server that supports the new security features
_FEATURE_PASSWORD_ALGORITHMS = 0x800000  # bit 0 of the 24-bit feature set (RFC 8489 §18.1)
_FEATURE_USERNAME_ANONYMITY = 0x400000  # bit 1


@dataclass
class AuthResult:
    """What to do with a request: sign with ``key`` or answer ``error``.

    ``sha256`` says which integrity attribute the response carries (the one
    the request used).  ``attributes`` are added to an error response.
    """

    key: bytes | None = None
    sha256: bool = False
    error: tuple[int, str] | None = None
    attributes: list[tuple[str, Any]] = field(default_factory=list)


class Authenticator(Protocol):
    def authenticate(self, request: Message, data: bytes) -> AuthResult: ...


def _verify(request: Message, data: bytes, key: bytes) -> tuple[bool, bool]:
    """(integrity ok, request used SHA-256).  MESSAGE-INTEGRITY-SHA256 wins when both are present."""
    mi256 = request.find("MESSAGE-INTEGRITY-SHA256")
    if mi256 is not None and not mi256.error:
        expected = integrity_of(data[: mi256.offset], key, sha256=True)[: len(mi256.value)]
        return hmac.compare_digest(mi256.value, expected), True
    mi = request.find("MESSAGE-INTEGRITY")
    if mi is not None and not mi.error:
        return hmac.compare_digest(mi.value, integrity_of(data[: mi.offset], key)), False
    return False, False


def _has_integrity(request: Message) -> bool:
    return "MESSAGE-INTEGRITY" in request or "MESSAGE-INTEGRITY-SHA256" in request


@dataclass
class ShortTermAuth:
    """Short-term credentials (RFC 8489 §9.1.3): one username, one password."""

    username: str
    password: str

    def authenticate(self, request: Message, data: bytes) -> AuthResult:
        username = request.get("USERNAME")
        if not _has_integrity(request) or username is None:
            # RFC 8489 §9.1.3: missing USERNAME or integrity -> 400, not 401.
            return AuthResult(error=(400, "Bad Request: USERNAME and MESSAGE-INTEGRITY are required"))
        if username != self.username:
            return AuthResult(error=(401, "Unauthorized: unknown USERNAME"))
        key = short_term_key(self.password)
        ok, sha256 = _verify(request, data, key)
        if not ok:
            return AuthResult(error=(401, "Unauthorized: integrity check failed"))
        return AuthResult(key=key, sha256=sha256)


@dataclass
class LongTermAuth:
    """Long-term credentials (RFC 8489 §9.2.4) with expiring nonces.

    ``clock`` is injectable so that tests can make a nonce stale without
    sleeping.  Nonces carry the RFC 8489 "obMatJos2" cookie announcing
    password algorithms (MD5, SHA-256) and username anonymity (USERHASH).
    """

    realm: str
    users: dict[str, str]
    nonce_lifetime: float = 600.0
    clock: Callable[[], float] = time.monotonic
    secret: bytes = field(default_factory=lambda: os.urandom(16))

    algorithms: tuple[int, ...] = (PASSWORD_ALGORITHM_MD5, PASSWORD_ALGORITHM_SHA256)

    def __post_init__(self) -> None:
        self._by_hash = {userhash(name, self.realm): name for name in self.users}

    # -- nonces ----------------------------------------------------------------

    def make_nonce(self) -> str:
        features = _FEATURE_PASSWORD_ALGORITHMS | _FEATURE_USERNAME_ANONYMITY
        encoded_features = base64.b64encode(struct.pack("!I", features)[1:]).decode()
        issued = f"{int(self.clock() * 1000):x}"
        tag = hmac.new(self.secret, issued.encode(), hashlib.sha256).hexdigest()[:16]
        return f"{NONCE_COOKIE}{encoded_features}{issued}.{tag}"

    def nonce_is_valid(self, nonce: str) -> bool:
        body = nonce[len(NONCE_COOKIE) + 4 :]
        issued, _, tag = body.partition(".")
        expected = hmac.new(self.secret, issued.encode(), hashlib.sha256).hexdigest()[:16]
        if not nonce.startswith(NONCE_COOKIE) or not hmac.compare_digest(tag, expected):
            return False
        try:
            age = self.clock() - int(issued, 16) / 1000
        except ValueError:
            return False
        return 0 <= age <= self.nonce_lifetime

    def _challenge(self, code: int, reason: str) -> AuthResult:
        attrs: list[tuple[str, Any]] = [("REALM", self.realm), ("NONCE", self.make_nonce())]
        attrs.append(("PASSWORD-ALGORITHMS", [(alg, b"") for alg in self.algorithms]))
        return AuthResult(error=(code, reason), attributes=attrs)

    # -- the RFC 8489 §9.2.4 procedure ----------------------------------------------

    def authenticate(self, request: Message, data: bytes) -> AuthResult:
        if not _has_integrity(request):
            return self._challenge(401, "Unauthorized")
        username = request.get("USERNAME")
        user_hash = request.get("USERHASH")
        realm, nonce = request.get("REALM"), request.get("NONCE")
        if (username is None and user_hash is None) or realm is None or nonce is None:
            return AuthResult(error=(400, "Bad Request: USERNAME or USERHASH, REALM and NONCE are required"))
        if not self.nonce_is_valid(nonce):
            return self._challenge(438, "Stale Nonce")
        if username is None:
            username = self._by_hash.get(user_hash)
        if username is None or username not in self.users or realm != self.realm:
            return self._challenge(401, "Unauthorized: unknown user or realm")
        algorithm = self._algorithm(request)
        if algorithm is None:
            return AuthResult(error=(400, "Bad Request: PASSWORD-ALGORITHM(S) do not match what was offered"))
        key = long_term_key(username, self.realm, self.users[username], algorithm)
        ok, sha256 = _verify(request, data, key)
        if not ok:
            return self._challenge(401, "Unauthorized: integrity check failed")
        return AuthResult(key=key, sha256=sha256)

    def _algorithm(self, request: Message) -> int | None:
        chosen = request.get("PASSWORD-ALGORITHM")
        offered = request.get("PASSWORD-ALGORITHMS")
        if chosen is None and offered is None:
            return PASSWORD_ALGORITHM_MD5
        ours = [(alg, b"") for alg in self.algorithms]
        if chosen is None or offered != ours or chosen not in ours:
            return None
        return int(chosen[0])
