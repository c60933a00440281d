"""The interop suites' HTTP offer/answer convention: our echo server passes, broken ones fail clearly."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pytest_webrtc.errors import ScenarioError, StepFailure
from pytest_webrtc.scenario import load_scenario, run_scenario

from ..process_helpers import read_line

SCENARIO = """\
scenario: http echo
peers:
  alice: {{}}
  echo: {{offer-url: "{url}"}}
steps:
  - offer: {{from: alice, to: echo, timeout: 3}}
  - answer: {{from: echo, to: alice}}
  - wait: {{peers: alice, connection: connected}}
  - data: {{from: alice, to: echo, send: {{binary: 65536}}}}
  - expect-wire: {{checks-succeeded: true, violations: 0}}
"""


def run(url: str) -> None:
    asyncio.run(run_scenario(load_scenario("http.yaml", SCENARIO.format(url=url))))


@pytest.fixture
def echo_server() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_webrtc", "http-echo-server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        yield read_line(proc).split("listening: ")[1].strip()
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_our_http_echo_server_passes(echo_server: str) -> None:
    run(echo_server)


BROKEN = {
    "500": (
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        "HTTP 500 Internal Server Error",
    ),
    "not-json": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", "the reply is not JSON"),
    "no-answer": (
        b'HTTP/1.1 200 OK\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{"type": "offer"}',
        'expected {"type": "answer", "sdp": ...}',
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_echo_server_fails_the_offer_step(case: str) -> None:
    reply, message = BROKEN[case]

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            writer.write(reply)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(StepFailure) as info:
                await run_scenario(load_scenario("http.yaml", SCENARIO.format(url=f"http://127.0.0.1:{port}/offer")))
            assert "step 1 (offer, line 6)" in str(info.value) and message in str(info.value)
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(main())


def test_offer_url_must_be_http() -> None:
    with pytest.raises(
        ScenarioError, match="offer-url: 'ftp://example.invalid/offer' is not valid; expected an echo server"
    ):
        load_scenario("http.yaml", SCENARIO.format(url="ftp://example.invalid/offer"))


def test_an_http_peer_cannot_be_commanded(echo_server: str) -> None:
    text = SCENARIO.format(url=echo_server).replace("  - offer: {from: alice, to: echo, timeout: 3}\n", "")
    # Caught when the file loads: the answer comes in the reply to an offer, and there is none before it.
    with pytest.raises(ScenarioError, match="echo answers alice, but no earlier step has alice offer to echo"):
        load_scenario("http.yaml", text)
