from __future__ import annotations

import struct

import pytest

from pytest_webrtc.capture.packets import classify, datagrams

from ..wire_helpers import udp_frame


def test_ethernet_ipv4_and_ipv6_frames() -> None:
    frames = [
        (1.0, udp_frame(("127.0.0.1", 1000), ("127.0.0.2", 2000), b"\x00\x01abc")),
        (2.0, udp_frame(("::1", 3000), ("::1", 4000), b"\x16\xfe\xfd")),
    ]
    found = datagrams(frames)
    assert [(d.number, d.src, d.dst, d.payload, d.kind) for d in found] == [
        (1, ("127.0.0.1", 1000), ("127.0.0.2", 2000), b"\x00\x01abc", "stun"),
        (2, ("::1", 3000), ("::1", 4000), b"\x16\xfe\xfd", "dtls"),
    ]


def test_linux_cooked_and_raw_ip_link_types() -> None:
    ip_packet = udp_frame(("10.0.0.1", 5), ("10.0.0.2", 6), b"x")[14:]
    sll = struct.pack("!HHH8sH", 0, 772, 6, b"", 0x0800) + ip_packet
    assert datagrams([(0.0, sll)], linktype=113)[0].payload == b"x"
    assert datagrams([(0.0, ip_packet)], linktype=101)[0].src == ("10.0.0.1", 5)
    assert datagrams([(0.0, b"\x02\x00\x00\x00" + ip_packet)], linktype=0)[0].dst == ("10.0.0.2", 6)


def test_non_udp_and_garbage_frames_are_skipped_but_keep_numbering() -> None:
    good = udp_frame(("127.0.0.1", 1), ("127.0.0.1", 2), b"\x01\x01")
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    found = datagrams([(0.0, arp), (0.0, b"\x00"), (0.0, good)])
    assert [d.number for d in found] == [3]


@pytest.mark.parametrize(
    "first, kind",
    [
        (0, "stun"),
        (3, "stun"),
        (17, "zrtp"),
        (20, "dtls"),
        (63, "dtls"),
        (64, "turn-channel"),
        (128, "rtp"),
        (191, "rtp"),
        (200, "other"),
    ],
)
def test_rfc7983_demultiplexing(first: int, kind: str) -> None:
    assert classify(bytes([first]) + b"rest") == kind
