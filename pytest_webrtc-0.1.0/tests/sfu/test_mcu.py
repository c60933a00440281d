"""The MCU: its mixer, the tone measurement the scenarios rely on, and a broken MCU caught."""

from __future__ import annotations

import math
from pathlib import Path

import numpy
import pytest

from pytest_webrtc.errors import StepFailure
from pytest_webrtc.peer.media import SILENT, tone_level
from pytest_webrtc.scenario import load_scenario, run_scenario
from pytest_webrtc.sfu.mcu import BUFFERED, FRAME, AudioMixer

RATE = 48000


def _tone(frequency: float, count: int = RATE // 2, amplitude: int = 8000) -> numpy.ndarray:  # type: ignore[type-arg]
    t = numpy.arange(count) / RATE
    return (amplitude * numpy.sin(2 * math.pi * frequency * t)).astype(numpy.int16)


def test_tone_level_tells_present_from_absent() -> None:
    mix = (_tone(660).astype(int) + _tone(880)).astype(numpy.int16)
    assert tone_level(mix, RATE, 660) > -3 and tone_level(mix, RATE, 880) > -3
    assert tone_level(mix, RATE, 440) < -60
    assert tone_level(numpy.zeros(RATE // 2, dtype=numpy.int16), RATE, 440) == SILENT
    assert tone_level(_tone(440, count=100), RATE, 440) == SILENT  # too short to judge


def test_each_listener_gets_every_other_source_and_not_itself() -> None:
    mixer = AudioMixer()
    for peer in ("alice", "bob", "carol"):
        mixer.add_source(peer)
        mixer.add_listener(peer)
    for peer, value in (("alice", 1), ("bob", 10), ("carol", 100)):
        mixer.feed(peer, numpy.full(FRAME, value, dtype=numpy.int16))
    assert set(mixer.mix("alice")) == {110}
    assert set(mixer.mix("bob")) == {101}
    assert set(mixer.mix("carol")) == {11}
    assert set(mixer.mix("carol")) == {0}  # nothing more was fed: silence, not a repeat
    assert mixer.hears("alice") == ["bob", "carol"]


def test_a_slow_listener_delays_nobody_and_its_backlog_is_bounded() -> None:
    mixer = AudioMixer()
    for peer in ("alice", "bob", "carol"):
        mixer.add_source(peer)
        mixer.add_listener(peer)
    for _ in range(15):  # 300 ms from bob, nobody reads in the meantime
        mixer.feed("bob", numpy.full(FRAME, 7, dtype=numpy.int16))
    assert mixer.dropped["alice"] == mixer.dropped["carol"] == 15 * FRAME - BUFFERED
    for _ in range(BUFFERED // FRAME):
        assert set(mixer.mix("alice")) == {7}
    assert set(mixer.mix("alice")) == {0}
    assert set(mixer.mix("carol")) == {7}  # carol's queue was not consumed by alice's reads


def test_samples_are_clipped_not_wrapped() -> None:
    mixer = AudioMixer()
    for peer in ("a", "b", "c"):
        mixer.add_source(peer)
    mixer.add_listener("c")
    mixer.feed("a", numpy.full(FRAME, 30000, dtype=numpy.int16))
    mixer.feed("b", numpy.full(FRAME, 30000, dtype=numpy.int16))
    assert set(mixer.mix("c")) == {32767}


def test_a_departed_peer_is_neither_heard_nor_served() -> None:
    mixer = AudioMixer()
    for peer in ("alice", "bob"):
        mixer.add_source(peer)
        mixer.add_listener(peer)
    mixer.remove("bob")
    mixer.feed("bob", numpy.full(FRAME, 5, dtype=numpy.int16))
    assert mixer.hears("alice") == [] and set(mixer.mix("alice")) == {0}


SHIPPED = Path(__file__).parents[2] / "scenarios" / "media" / "mcu_audio_mix.yaml"


async def test_an_mcu_that_echoes_a_peer_to_itself_fails_no_tones(monkeypatch: pytest.MonkeyPatch) -> None:
    def add_listener_with_echo(self: AudioMixer, listener: str) -> None:
        self.queues[listener] = {source: numpy.zeros(0, dtype=numpy.int16) for source in self.sources}

    monkeypatch.setattr(AudioMixer, "add_listener", add_listener_with_echo)
    monkeypatch.setattr(
        AudioMixer,
        "add_source",
        lambda self, source: (
            self.sources.add(source),
            [q.setdefault(source, numpy.zeros(0, dtype=numpy.int16)) for q in self.queues.values()],
        ),
    )
    with pytest.raises(StepFailure, match=r"step 6 \(expect-media.*alice hears 440 Hz"):
        await run_scenario(load_scenario(SHIPPED), {"capture": False})
