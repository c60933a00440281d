"""The nftables rules each NAT type gets (text only; behaviour is tested in namespaces)."""

from __future__ import annotations

from pytest_webrtc.nat.types import NAT_TYPES, ruleset


def _rules(name: str) -> str:
    return ruleset(NAT_TYPES[name], "pub", "priv", "10.0.1.2")


def test_mapping_rules() -> None:
    assert "masquerade\n" in _rules("full-cone")
    assert "masquerade fully-random" in _rules("symmetric")
    assert "masquerade" not in _rules("none") and "chain prerouting" not in _rules("none")


def test_filtering_rules() -> None:
    assert 'iifname "pub" meta l4proto udp dnat to 10.0.1.2' in _rules("full-cone")
    restricted = _rules("restricted-cone")
    assert "update @contacted { udp sport . ip daddr }" in restricted
    assert "udp dport . ip saddr != @contacted drop" in restricted and "dnat to 10.0.1.2" in restricted
    for name in ("port-restricted-cone", "symmetric"):
        assert "dnat" not in _rules(name)  # conntrack filters by address and port
        assert 'iifname "pub" ct state new drop' in _rules(name)  # and unanswered probes leave no entry


def test_udp_blocked_drops_udp_both_ways() -> None:
    assert "meta l4proto udp drop" in _rules("udp-blocked")
    assert "udp drop" not in _rules("port-restricted-cone")
