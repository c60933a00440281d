"""Live fuzzing of the harness's servers in CI: a few thousand hostile inputs, then a health check.

``bench/fuzz.py`` runs the same fuzzers for a million inputs.
"""

from __future__ import annotations

import pytest

from pytest_webrtc.fuzz import fuzz_signaling, fuzz_stun
from pytest_webrtc.signaling.server import SignalingServer
from pytest_webrtc.stun.auth import LongTermAuth, ShortTermAuth
from pytest_webrtc.stun.server import StunServer

SERVERS = {
    "plain": {},
    "short-term": {"auth": ShortTermAuth("u", "p")},
    "long-term": {"auth": LongTermAuth("example.org", {"u": "p"})},
    "rfc5780": {"other_host": "127.0.0.2"},
}
# A plain Binding request afterwards: without credentials, RFC 8489 §9.1.3 gives 400 (short-term),
# §9.2.4 a 401 challenge (long-term).
HEALTHY = {"plain": "success", "short-term": "error 400", "long-term": "error 401", "rfc5780": "success"}


@pytest.mark.parametrize("kind", sorted(SERVERS))
async def test_the_stun_server_survives_hostile_traffic(kind: str) -> None:
    async with StunServer("127.0.0.1", **SERVERS[kind]) as server:  # type: ignore[arg-type]
        assert server.udp_address is not None
        report = await fuzz_stun(server.udp_address, server.tcp_address, count=3000, seed=hash(kind) & 0xFFFF)
        assert report.healthy and report.health == HEALTHY[kind], report
        assert server.internal_errors == 0, server.stats.as_dict()
        assert report.sent >= 3000 and report.rss_growth_kb < 64 * 1024, report


async def test_the_signaling_server_survives_hostile_frames() -> None:
    async with SignalingServer() as server:
        report = await fuzz_signaling(server.url, count=2000)
        assert report.healthy and report.sent >= 1000, report
        assert report.rss_growth_kb < 64 * 1024, report
        assert server.error_count > 0  # it answered the bad input with errors, and lived
