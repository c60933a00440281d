"""What the SFU and the MCU share: a participant of a signaling room that answers peers' offers.

A :class:`RoomActor` joins a room like a peer, keeps one RTCPeerConnection per peer that offers to
it, answers with its candidates trickled, applies the peers' candidates, and ends a peer's
connection when the peer leaves (``peer-left`` or ``bye``).  Subclasses say what a new connection
does with the peer's media (:meth:`_prepare`) and what ending one means (:meth:`_forget`).  A bad
message from one peer is recorded in ``errors`` and never stops the actor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from ..errors import PeerError, SignalingError
from ..peer.hosts import host_addresses, may_reach
from ..peer.sdp import split_candidates, trickled_candidate
from ..signaling.client import SignalingClient
from ..wakeup import Wakeup

__all__ = ["RoomActor"]

_MESSAGES = ("offer", "answer", "candidate", "end-of-candidates", "peer-left", "bye", "peer-joined", "error")


class RoomActor:
    """Base of the server actors: ``await Actor(url, room).start()`` ... ``await actor.stop()``."""

    kind = "actor"

    def __init__(self, signaling_url: str, room: str, peer_id: str, *, candidates: list[str] | None = None) -> None:
        self.id = peer_id
        self.room = room
        self.signaling = SignalingClient(signaling_url, room, peer_id)
        self.host_addresses = candidates if candidates is not None else ["127.0.0.1"]
        self.pcs: dict[str, RTCPeerConnection] = {}  # peer -> the connection with it
        self.errors: list[str] = []
        self.endpoints: dict[str, tuple[str, list[str]]] = {}  # "sfu/alice" -> (SDP answered, candidates)
        self._changed = Wakeup()
        self._loop_task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Future[None]] = set()
        self.stopping = False

    # -- life cycle --------------------------------------------------------------------

    async def start(self, timeout: float = 5.0) -> RoomActor:
        await self.signaling.join(timeout)
        self._loop_task = asyncio.create_task(self._serve(), name=f"{self.kind}-{self.id}")
        return self

    async def stop(self) -> None:
        self.stopping = True
        # Closing signaling ends the message loop by itself (next_of raises); cancelling is the fallback.
        await self.signaling.close()
        if self._loop_task is not None:
            done, _ = await asyncio.wait({self._loop_task}, timeout=5)
            if not done:
                self._loop_task.cancel()
                await asyncio.wait({self._loop_task}, timeout=5)
        for peer in list(self.pcs):
            await self._end(peer, f"{self.kind} stopped")
        if self._closing:  # connections still closing
            await asyncio.wait(self._closing, timeout=5)

    async def _serve(self) -> None:
        while True:
            try:
                message = await self.signaling.next_of(*_MESSAGES, timeout=3600)
            except SignalingError:
                return  # the signaling connection closed: nothing more will arrive
            try:
                await self._handle(message)
            except Exception as exc:  # one peer's bad message must not stop the actor for the others
                self.errors.append(f"{message.get('type')} from {message.get('from')}: {type(exc).__name__}: {exc}")
            self.changed()

    async def _handle(self, message: dict[str, Any]) -> None:
        kind, peer = message["type"], message.get("from") or message.get("peer")
        if kind == "offer":
            await self._accept_offer(str(peer), message["sdp"])
        elif kind == "answer" and peer in self.pcs:
            self._on_answer(str(peer), message)
        elif kind == "candidate" and peer in self.pcs:
            if may_reach(message["candidate"], self.host_addresses):
                await self.pcs[peer].addIceCandidate(trickled_candidate(message))
        elif kind == "end-of-candidates" and peer in self.pcs:
            await self.pcs[peer].addIceCandidate(None)
        elif kind in ("peer-left", "bye") and peer in self.pcs:
            await self._end(str(peer), kind)
        elif kind == "error":
            self.errors.append(f"signaling error {message.get('code')}: {message.get('reason')}")

    # -- waiting -------------------------------------------------------------------------

    def changed(self) -> None:
        """Wake everything waiting in :meth:`wait_until`."""
        self._changed.wake()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``predicate()`` holds (checked whenever the actor's state changes)."""
        try:
            await self._changed.until(lambda: True if predicate() else None, timeout)
        except TimeoutError:
            raise PeerError(f"{self.id}: {what} did not happen within {timeout:g} s") from None

    # -- connections ------------------------------------------------------------------------

    async def _accept_offer(self, peer: str, sdp: str) -> None:
        if not any(line.startswith("m=") for line in sdp.splitlines()):
            raise PeerError("the offer has no media section (m=)")
        pc = self.pcs.get(peer)
        if pc is None:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            self._prepare(peer, pc)
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except Exception:
                await self._forget(peer, "refused offer")
                await pc.close()
                raise
            self.pcs[peer] = pc
        else:
            self._check_reoffer(peer)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        self._before_answer(peer, pc)
        with host_addresses(self.host_addresses):
            await pc.setLocalDescription(await pc.createAnswer())
        answer, candidates = split_candidates(pc.localDescription.sdp)
        self.endpoints[f"{self.id}/{peer}"] = (answer, [c.candidate for c in candidates])
        await self.signaling.send("answer", peer, sdp=answer)
        for candidate in candidates:
            await self.signaling.send(
                "candidate",
                peer,
                candidate=candidate.candidate,
                sdpMid=candidate.sdp_mid,
                sdpMLineIndex=candidate.sdp_mline_index,
            )
        await self.signaling.send("end-of-candidates", peer)
        self._answered(peer)

    async def _end(self, peer: str, why: str) -> None:
        pc = self.pcs.pop(peer)
        await self._forget(peer, why)
        # aiortc's close does not survive being cancelled half-way: it runs as its own task,
        # which stop() waits for.
        closing = asyncio.ensure_future(pc.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        await asyncio.wait({closing}, timeout=5)

    # -- what subclasses decide ------------------------------------------------------------------

    def _prepare(self, peer: str, pc: RTCPeerConnection) -> None:
        """A new connection, before the peer's offer is applied (hook its ``track`` event here)."""

    def _check_reoffer(self, peer: str) -> None:
        """Raise if a new offer from ``peer`` cannot be taken now."""

    def _before_answer(self, peer: str, pc: RTCPeerConnection) -> None:
        """The offer is applied; add what the answer should carry."""

    def _answered(self, peer: str) -> None:
        """The answer and candidates went out."""

    def _on_answer(self, peer: str, message: dict[str, Any]) -> None:
        """``peer`` answered an offer of ours."""

    async def _forget(self, peer: str, why: str) -> None:
        """The connection with ``peer`` ends (or never started): drop what belongs to it."""

    def report(self) -> dict[str, Any]:
        raise NotImplementedError

    def wire_endpoints(self) -> dict[str, tuple[str, list[str]]]:
        """Per connection (ended ones too), the SDP the actor answered with and its candidates: what
        the wire verifier needs to check ICE and DTLS on the actor's side."""
        return dict(self.endpoints)
