"""Mutated STUN bytes never make the codec, the checker or the server's responder raise."""

from __future__ import annotations

import json
import random
from pathlib import Path

from pytest_webrtc.errors import StunDecodeError
from pytest_webrtc.fuzz import mutate
from pytest_webrtc.stun import Message, MessageClass, Method, check, decode
from pytest_webrtc.stun.auth import LongTermAuth, ShortTermAuth
from pytest_webrtc.stun.responder import Responder

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "rfc5769.json").read_text())["vectors"]


def seeds() -> list[bytes]:
    out = [bytes.fromhex(v["hex"]) for v in VECTORS]
    out.append(Message(Method.BINDING, MessageClass.REQUEST).encode())
    out.append(Message(Method.BINDING, MessageClass.REQUEST).encode(fingerprint=True))
    out.append(
        Message(Method.BINDING, MessageClass.REQUEST)
        .add("CHANGE-REQUEST", 6)
        .add("RESPONSE-PORT", 5000)
        .add("PADDING", bytes(7))
        .add("PASSWORD-ALGORITHMS", [(1, b""), (2, b"ab")])
        .add("ERROR-CODE", (438, "x"))
        .encode(integrity_key=b"k", integrity_sha256_key=b"k", fingerprint=True)
    )
    return out


def test_mutations_never_raise_unexpectedly() -> None:
    rng = random.Random(8489)
    responders = [
        Responder(software="t"),
        Responder(software="t", auth=ShortTermAuth("evtj:h6vY", "VOkJxbRl1RmTxUk/WvJxBt")),
        Responder(software="t", auth=LongTermAuth("example.org", {"u": "p"})),
        Responder(software="t", endpoints=[[("127.0.0.1", 1), ("127.0.0.1", 2)], [("127.0.0.2", 1), ("127.0.0.2", 2)]]),
    ]
    corpus = seeds()
    for i in range(6000):
        data = mutate(rng, rng.choice(corpus))
        check(data, key=b"k", require_fingerprint=True)
        try:
            decode(data)
        except StunDecodeError:
            pass
        responders[i % len(responders)].respond(data, ("192.0.2.1", 1234), ("192.0.2.2", 3478))
    for responder in responders:
        stats = responder.stats
        assert stats.requests + stats.dropped + stats.indications + stats.malformed > 0
