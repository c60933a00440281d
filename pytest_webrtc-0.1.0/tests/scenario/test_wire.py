"""The scenario's wire recorder: kernel drops in the capture become a capture.loss note."""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_webrtc.capture.sniffer import CaptureStats
from pytest_webrtc.scenario.wire import WireRecorder, WireScope


@dataclass
class FakeCapture:
    """A capture that saw nothing and reports the kernel's drop counters it is given."""

    dropped: int = 0
    interface_dropped: int = 0
    linktype: int = 1
    frames: list[tuple[float, bytes]] = field(default_factory=list)

    def flush(self, timeout: float = 5.0) -> None:
        return None

    def snapshot(self) -> list[tuple[float, bytes]]:
        return list(self.frames)

    def stats(self) -> CaptureStats:
        return CaptureStats(received=0, dropped=self.dropped, interface_dropped=self.interface_dropped)


SCOPE = WireScope(sdps={}, endpoints={}, stun_servers=set())


async def test_a_capture_without_drops_has_no_loss_finding() -> None:
    verdict = await WireRecorder(capture=FakeCapture()).judge(SCOPE)  # type: ignore[arg-type]
    assert verdict.findings == []


async def test_kernel_drops_are_a_capture_loss_note_that_does_not_fail_the_verdict() -> None:
    verdict = await WireRecorder(capture=FakeCapture(dropped=3, interface_dropped=1)).judge(SCOPE)  # type: ignore[arg-type]
    assert [(f.rule, f.packet, f.outcome) for f in verdict.findings] == [("capture.loss", 0, "warn")]
    assert str(verdict.findings[0]) == (
        "capture: capture.loss (-): the kernel dropped 4 packets: the verdict may miss some"
    )
    assert verdict.ok
