"""A broken callee for the matrix's tests: it follows the external-peer convention but echoes every
binary message with its last byte flipped (its text comes back intact: a lazy check of the first
echo would pass it)."""

from __future__ import annotations

import asyncio
import os
import sys

from pytest_webrtc.peer.agent import PeerAgent


async def main() -> None:
    env = os.environ
    agent = PeerAgent(
        env["WEBRTC_PEER_ID"], env["WEBRTC_SIGNALING_URL"], env["WEBRTC_ROOM"],
        candidates=env.get("WEBRTC_HOST_ADDRESSES", "127.0.0.1").split(","),
    )  # fmt: skip

    @agent.pc.on("datachannel")
    def on_channel(channel) -> None:  # type: ignore[no-untyped-def]
        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            channel.send(message[:-1] + bytes([message[-1] ^ 1]) if isinstance(message, bytes) else message)

    try:
        await agent.join()
        caller = await agent.accept("offer", timeout=30)
        await agent.answer(caller)
        await agent.send_candidates(caller)
        await agent.receive_candidates(timeout=30)
        await agent.wait_peer("peer-left", 30)
    finally:
        await agent.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
