"""Live capture on loopback: nothing missed at either end, pcaps that round-trip, clear errors."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from pytest_webrtc.capture.packets import datagrams
from pytest_webrtc.capture.sniffer import Capture, read_pcap, write_pcap
from pytest_webrtc.capture.verify import verify
from pytest_webrtc.stun import Message, MessageClass, Method, decode


@pytest.fixture
def sender() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def ours(capture: Capture, port: int) -> list[bytes]:
    return [d.payload for d in datagrams(capture.frames, capture.linktype) if d.src[1] == port]


@pytest.mark.usefixtures("can_capture")
def test_no_race_at_start_or_stop(sender: socket.socket) -> None:
    """The first datagram right after start() and the last right before stop() are both captured."""
    capture = Capture("lo", "udp")
    capture.start()
    target = sender.getsockname()
    sender.sendto(b"first", target)  # no pause after start(): the capture is live once it returns
    for i in range(500):
        sender.sendto(b"middle %d" % i, target)
    sender.sendto(b"last", target)
    capture.stop()  # no pause before stop(): it returns once everything sent so far was read
    payloads = ours(capture, target[1])
    assert payloads[0] == b"first" and payloads[-1] == b"last" and len(payloads) == 502
    assert capture.stats().dropped == 0


@pytest.mark.usefixtures("can_capture")
def test_a_burst_from_another_thread_is_captured_whole(sender: socket.socket) -> None:
    target = sender.getsockname()
    with Capture("lo", "udp") as capture:
        worker = threading.Thread(target=lambda: [sender.sendto(b"%05d" % i, target) for i in range(2000)])
        worker.start()
        worker.join(10)
        capture.flush()
        assert len(ours(capture, target[1])) == 2000


@pytest.mark.usefixtures("can_capture")
def test_misbehaving_server_is_caught_on_the_wire(sender: socket.socket) -> None:
    """A STUN 'server' that answers with a wrong XOR-MAPPED-ADDRESS, seen live."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(3)
    try:
        with Capture("lo", "udp") as capture:
            request = Message(Method.BINDING, MessageClass.REQUEST)
            sender.sendto(request.encode(fingerprint=True), server.getsockname())
            data, client = server.recvfrom(2048)
            wrong = (client[0], client[1] ^ 1)
            reply = Message(Method.BINDING, MessageClass.SUCCESS, decode(data).transaction_id)
            server.sendto(reply.add("XOR-MAPPED-ADDRESS", wrong).encode(fingerprint=True), client)
        ports = {server.getsockname()[1]}
        found = [d for d in datagrams(capture.frames, capture.linktype) if d.src[1] in ports or d.dst[1] in ports]
        verdict = verify(found)
        # Numbers count every frame of the capture (other tests' traffic on lo included): the
        # finding must point at the reply, the second of this exchange.
        assert [(f.packet, f.rule) for f in verdict.findings] == [(found[1].number, "wire.xor-mapped-address")]
    finally:
        server.close()


def test_pcap_round_trip(tmp_path: Path) -> None:
    frames = [(1700000000.123456, b"\x00" * 14 + b"frame one"), (1700000001.5, b"\x01" * 20)]
    path = write_pcap(tmp_path / "sub" / "x.pcap", frames)
    linktype, read = read_pcap(path)
    assert linktype == 1
    assert [(round(t, 6), raw) for t, raw in read] == [(round(t, 6), raw) for t, raw in frames]


@pytest.mark.parametrize("content", [b"", b"this is not a capture file at all", None], ids=["empty", "text", "cut"])
def test_reading_a_bad_file_is_a_clear_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "bad.pcap"
    if content is None:  # a real pcap, cut in the middle of its second record
        good = write_pcap(tmp_path / "good.pcap", [(1.0, b"a" * 60), (2.0, b"b" * 60)]).read_bytes()
        content = good[:-30]
    path.write_bytes(content)
    with pytest.raises(ValueError, match="bad.pcap: (not a pcap or pcapng file|truncated or corrupt: packet 2)"):
        read_pcap(path)


@pytest.mark.usefixtures("can_capture")
def test_a_sentinel_the_kernel_dropped_is_sent_again() -> None:
    """A ring that overflowed may drop the flush's sentinel itself: the flush resends it, and ends."""
    with Capture("lo", "udp") as capture:
        real = capture._sentinel_socket
        assert real is not None
        dropped: list[bytes] = []

        class FirstLost:
            def sendto(self, data: bytes, address: object) -> int:
                if not dropped:
                    dropped.append(data)  # as if the kernel had dropped it
                    return len(data)
                return real.sendto(data, address)

            def getsockname(self) -> object:
                return real.getsockname()

        capture._sentinel_socket = FirstLost()  # type: ignore[assignment]
        started = time.monotonic()
        capture.flush(timeout=3)
        assert dropped and time.monotonic() - started < 1.5
        capture._sentinel_socket = real


def test_a_capture_that_never_sees_its_sentinel_leaves_no_reader_behind() -> None:
    """On an interface its loopback sentinel never crosses, start() fails — and stops its reader."""
    from pytest_webrtc.errors import CaptureUnavailable
    from pytest_webrtc.nat.netns import Namespace, cannot_build_namespaces, in_thread

    if cannot_build_namespaces():
        pytest.skip(str(cannot_build_namespaces()))
    here, there = Namespace("cap"), Namespace("cap")
    try:
        here.link(there, "side0", "side1")
        here.address("side0", "10.77.0.1/30")
        there.address("side1", "10.77.0.2/30")
        with pytest.raises(CaptureUnavailable, match="did not see its sentinel"):
            in_thread(here.name, lambda: Capture("side0", "udp").start(timeout=0.5))
        assert not [t for t in threading.enumerate() if t.name == "capture-side0"]
        # told where to send its sentinel (out of that interface), it starts
        capture = in_thread(here.name, lambda: Capture("side0", "udp", sentinel_to=("10.77.0.2", 9)).start())
        capture.stop()
        assert capture.frames == []  # sentinels are not frames
    finally:
        here.delete()
        there.delete()
