"""The plugin, black-box: fixtures as a user's test suite sees them (pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

HELPERS = """
import socket
from pytest_webrtc.stun import Message, MessageClass, Method, decode

def ask(address):
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.bind((address[0], 0))
        request = Message(Method.BINDING, MessageClass.REQUEST)
        sock.sendto(request.encode(), address)
        data, _ = sock.recvfrom(2048)
        response = decode(data)
        assert response.transaction_id == request.transaction_id
        return response.get("XOR-MAPPED-ADDRESS"), sock.getsockname()[:2]
"""


INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(helpers=HELPERS)
    return pytester


def test_stun_server_answers_a_sync_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        from helpers import ask

        def test_binding(stun_server):
            mapped, local = ask(stun_server.udp_address)
            assert mapped == local
            assert stun_server.stats.requests == 1
            assert stun_server.transactions[0].client == local
        """
    )
    suite.runpytest().assert_outcomes(passed=1)


def test_a_wrong_expectation_fails(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        from helpers import ask

        def test_binding(stun_server):
            ask(stun_server.udp_address)
            assert stun_server.stats.requests == 2
        """
    )
    suite.runpytest().assert_outcomes(failed=1)


def test_marker_configures_the_server(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest
        from pytest_webrtc.stun.auth import ShortTermAuth
        from helpers import ask

        @pytest.mark.webrtc_stun_server(other_host="127.0.0.2", tcp=False)
        def test_rfc5780(stun_server):
            assert stun_server.other_address[0] == "127.0.0.2"
            assert stun_server.tcp_address is None

        @pytest.mark.webrtc_stun_server(auth=ShortTermAuth("u", "p"))
        def test_auth(stun_server):
            ask(stun_server.udp_address)
            assert stun_server.transactions[-1].outcome == "error 400"
        """
    )
    suite.runpytest().assert_outcomes(passed=2)


def test_bad_marker_option_is_a_clear_error(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.webrtc_stun_server(colour="blue")
        def test_x(stun_server):
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*HarnessConfigError: bad STUN server option*colour*"])


def test_factory_and_teardown_release_ports(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import socket
        ports = []

        def test_two_servers(stun_server_factory):
            a, b = stun_server_factory(), stun_server_factory(tcp=False)
            assert a.udp_address != b.udp_address
            ports.extend([a.udp_address[1], b.udp_address[1]])

        def test_ports_are_free_again():
            for port in ports:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.bind(("127.0.0.1", port))
        """
    )
    suite.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_session_server_is_shared(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        from helpers import ask
        seen = []

        def test_one(stun_server_session):
            ask(stun_server_session.udp_address)
            seen.append(stun_server_session)

        def test_two(stun_server_session):
            ask(stun_server_session.udp_address)
            assert stun_server_session is seen[0]
            assert stun_server_session.stats.requests == 2
        """
    )
    suite.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_stun_host_option_and_ini(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        from helpers import ask

        def test_v6(stun_server):
            assert stun_server.udp_address[0] == "::1"
            mapped, local = ask(stun_server.udp_address)
            assert mapped == local
        """
    )
    suite.runpytest("--webrtc-stun-host", "::1").assert_outcomes(passed=1)
    suite.makeini(INI + "webrtc_stun_host = ::1\n")
    suite.runpytest().assert_outcomes(passed=1)


def test_fixtures_work_under_xdist(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest
        from helpers import ask

        @pytest.mark.parametrize("n", range(6))
        def test_parallel(stun_server, n):
            mapped, local = ask(stun_server.udp_address)
            assert mapped == local
        """
    )
    suite.runpytest_subprocess("-n", "2").assert_outcomes(passed=6)


def test_plugin_is_registered_by_entry_point(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--help")
    result.stdout.fnmatch_lines(["*WebRTC conformance harness (pytest-webrtc)*", "*--webrtc-stun-host*"])


def test_webrtc_peer_factory_connects_two_peers(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_two_peers(webrtc_peer, signaling_server, stun_server):
            alice = await webrtc_peer("alice")
            bob = await webrtc_peer("bob", process=True)
            await alice.join()
            await bob.join()
            await alice.offer("bob")
            await bob.accept("offer")
            await bob.answer("alice")
            await alice.accept("answer")
            await alice.send_candidates("bob")
            await bob.send_candidates("alice")
            await bob.receive_candidates()
            await alice.receive_candidates()
            await alice.send("data", "hi")
            assert await bob.wait_messages("data", 1, 5) == ["hi"]
            assert [r.type for r in signaling_server.relayed].count("candidate") == 4
            assert stun_server.stats.requests == 2
        """
    )
    suite.runpytest().assert_outcomes(passed=1)


def test_wait_joined_whoever_came_first_and_ice_servers(suite: pytest.Pytester) -> None:
    """wait_joined returns for a peer listed at join and for one announced later (in process and as a
    process), and times out naming who did not come; stun_server.ice_servers is its RTCIceServer list."""
    suite.makepyfile(
        """
        import pytest
        from pytest_webrtc.errors import PeerError

        @pytest.mark.asyncio
        @pytest.mark.parametrize("process", [False, True])
        async def test_joined(webrtc_peer, stun_server, process):
            host, port = stun_server.udp_address
            assert stun_server.ice_servers == [{"urls": f"stun:{host}:{port}"}]
            early = await webrtc_peer("early")
            await early.join()
            alice = await webrtc_peer("alice", process=process)
            assert await alice.join() == ["early"]
            await alice.wait_joined("early", timeout=1)     # listed when alice joined: no notice comes
            late = await webrtc_peer("late")
            await late.join()
            await alice.wait_joined("late", timeout=5)      # announced afterwards
            with pytest.raises(PeerError, match="alice: nobody did not join room 'room' within 0.3 s"):
                await alice.wait_joined("nobody", timeout=0.3)
        """
    )
    suite.runpytest().assert_outcomes(passed=2)


def test_external_peer_fixture_starts_a_program_with_the_conventions_variables(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        env_peer="""
        import json, os, sys
        keys = ["WEBRTC_SIGNALING_URL", "WEBRTC_ROOM", "WEBRTC_PEER_ID", "WEBRTC_ICE_SERVERS", "WEBRTC_HOST_ADDRESSES", "MINE"]
        print(json.dumps({k: os.environ.get(k) for k in keys}), flush=True)
        sys.exit(4)
        """,
        test_program="""
        import asyncio, json, sys
        import pytest

        @pytest.mark.asyncio
        async def test_program(external_peer, signaling_server, stun_server):
            program = await external_peer("bot", [sys.executable, "env_peer.py"], room="r1", env={"MINE": "x"})
            for _ in range(200):
                if program.exited() is not None:
                    break
                await asyncio.sleep(0.05)
            assert program.exited() == 4
            seen = json.loads(program.output().splitlines()[0])
            assert seen == {"WEBRTC_SIGNALING_URL": signaling_server.url, "WEBRTC_ROOM": "r1", "WEBRTC_PEER_ID": "bot",
                            "WEBRTC_ICE_SERVERS": json.dumps(stun_server.ice_servers),
                            "WEBRTC_HOST_ADDRESSES": "127.0.0.1", "MINE": "x"}
        """,
    )
    suite.runpytest().assert_outcomes(passed=1)


def test_sfu_fixture_forwards_between_webrtc_peers(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_through_the_sfu(webrtc_peer, sfu):
            alice, bob = await webrtc_peer("alice"), await webrtc_peer("bob")
            for peer in (alice, bob):
                await peer.join()
                await peer.add_track("video")
                await peer.connect_to("sfu")
            await bob.wait_media("video", 5, 10, source="alice")
            await alice.wait_media("video", 5, 10, source="bob")
            assert sfu.forwarding() == {"alice": ["bob"], "bob": ["alice"]}
        """
    )
    suite.runpytest().assert_outcomes(passed=1)


def test_an_unmarked_async_test_under_strict_pytest_asyncio_is_told_what_to_set(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n"
    )
    pytester.makepyfile(test_async="async def test_two_peers(webrtc_peer):\n    alice = await webrtc_peer('alice')\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_two_peers uses webrtc_peer, an async fixture, but pytest-asyncio is in strict mode*asyncio_mode = auto*"
        ]
    )


def test_the_plugin_loads_nothing_heavy_until_used() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pytest, pytest_webrtc.plugin; "
        "heavy = ('aiortc', 'scapy', 'jsonschema', 'websockets', 'yaml', 'numpy', 'av'); "
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}), "
        "sorted(m for m in sys.modules if m.startswith('pytest_webrtc.scenario.') or m.startswith('pytest_webrtc.stun')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[] ['pytest_webrtc.scenario.files']", out
