"""Fixtures: STUN servers running on a background event loop.

``stun_server``           function-scoped, configured by ``@pytest.mark.webrtc_stun_server(...)``
``stun_server_session``   one server for the whole session (default configuration)
``stun_server_factory``   ``stun_server_factory(**kwargs)`` starts as many as a test needs
``signaling_server``      a WebSocket signaling server (protocol v1)
``whip_server``           the reference WHIP/WHEP endpoint (``@pytest.mark.webrtc_whip_server(token=...)``)
``webrtc_peer``           ``await webrtc_peer("alice")``: aiortc peers wired to those two servers
``sfu``, ``mcu``          an SFU / an MCU in room ``room`` of ``signaling_server`` (need pytest-asyncio)
                          (needs pytest-asyncio; async tests only)

Every server binds port 0, so tests run in parallel (pytest-xdist) without
colliding, and each is stopped at teardown even when the test fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import HarnessConfigError
from .options import stun_host

if TYPE_CHECKING:  # imported when a fixture is used: a run that uses none pays nothing for them
    from ..background import BackgroundLoop
    from ..signaling.server import SignalingServer
    from ..stun.server import StunServer
    from ..whip.server import WhipServer

StunServerFactory = Callable[..., "StunServer"]


@pytest.fixture(scope="session")
def webrtc_background_loop() -> Iterator[BackgroundLoop]:
    """The event loop (in its own thread) that the server fixtures run on."""
    from ..background import BackgroundLoop

    loop = BackgroundLoop()
    yield loop
    loop.close()


def _factory(loop: BackgroundLoop, default_host: str) -> tuple[StunServerFactory, Callable[[], None]]:
    started: list[StunServer] = []

    def make(**kwargs: Any) -> StunServer:
        from ..stun.server import StunServer

        kwargs.setdefault("host", default_host)
        try:
            server = StunServer(**kwargs)
        except TypeError as exc:
            raise HarnessConfigError(f"bad STUN server option: {exc}") from None
        loop.run(server.start())
        started.append(server)
        return server

    def stop_all() -> None:
        while started:
            loop.run(started.pop().stop())

    return make, stop_all


@pytest.fixture
def stun_server_factory(
    webrtc_background_loop: BackgroundLoop, pytestconfig: pytest.Config
) -> Iterator[StunServerFactory]:
    """Start STUN servers with any :class:`~pytest_webrtc.stun.server.StunServer` options."""
    make, stop_all = _factory(webrtc_background_loop, stun_host(pytestconfig))
    yield make
    stop_all()


@pytest.fixture
def stun_server(stun_server_factory: StunServerFactory, request: pytest.FixtureRequest) -> StunServer:
    """A STUN server for this test; options come from the ``webrtc_stun_server`` marker."""
    marker = request.node.get_closest_marker("webrtc_stun_server")
    kwargs = dict(marker.kwargs) if marker else {}
    return stun_server_factory(**kwargs)


@pytest.fixture(scope="session")
def stun_server_session(webrtc_background_loop: BackgroundLoop, pytestconfig: pytest.Config) -> Iterator[StunServer]:
    """One STUN server shared by the whole session (counters accumulate across tests)."""
    make, stop_all = _factory(webrtc_background_loop, stun_host(pytestconfig))
    yield make()
    stop_all()


@pytest.fixture
def signaling_server(webrtc_background_loop: BackgroundLoop) -> Iterator[SignalingServer]:
    """A signaling server (WebSocket, protocol v1) on 127.0.0.1, port 0; ``.url``, ``.relayed``, ``.errors``."""
    from ..signaling.server import SignalingServer

    server = SignalingServer()
    webrtc_background_loop.run(server.start())
    yield server
    webrtc_background_loop.run(server.stop())


@pytest.fixture
def whip_server(webrtc_background_loop: BackgroundLoop, request: pytest.FixtureRequest) -> Iterator[WhipServer]:
    """The reference WHIP/WHEP endpoint on 127.0.0.1, port 0: ``.whip_url(stream)``, ``.whep_url(stream)``,
    ``.base_url``; options (``token``, ``ice_servers``) from the ``webrtc_whip_server`` marker."""
    from ..whip.server import WhipServer

    marker = request.node.get_closest_marker("webrtc_whip_server")
    try:
        server = WhipServer(**(dict(marker.kwargs) if marker else {}))
    except TypeError as exc:
        raise HarnessConfigError(f"bad WHIP server option: {exc}") from None
    webrtc_background_loop.run(server.start())
    yield server
    webrtc_background_loop.run(server.stop())


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixture needs an event loop in the test
    pytest_asyncio = None  # type: ignore[assignment]

if pytest_asyncio is None:

    def _needs_asyncio(name: str) -> None:
        pytest.fail(
            f"{name} is an async fixture: install pytest-asyncio (pip install pytest-asyncio) and set "
            "asyncio_mode = auto and asyncio_default_fixture_loop_scope = function in your pytest ini",
            pytrace=False,
        )

    @pytest.fixture
    def webrtc_peer() -> None:
        """Needs pytest-asyncio: without it, the first use says what to install."""
        _needs_asyncio("webrtc_peer")

    @pytest.fixture
    def external_peer() -> None:
        """Needs pytest-asyncio: without it, the first use says what to install."""
        _needs_asyncio("external_peer")

else:

    @pytest_asyncio.fixture
    async def webrtc_peer(signaling_server: SignalingServer, stun_server: StunServer) -> AsyncIterator[Any]:
        """Factory of peers: ``await webrtc_peer("alice", room="room", candidates="loopback", process=False)``.

        Each peer talks to ``signaling_server`` over a real WebSocket and has ``stun_server`` in its
        ICE configuration; all are closed at teardown.
        """
        from ..peer.agent import PeerAgent
        from ..peer.process import ProcessPeer

        made: list[Any] = []
        assert stun_server.udp_address is not None
        ice_servers = stun_server.ice_servers if ":" not in stun_server.udp_address[0] else []

        async def make(
            peer_id: str,
            room: str = "room",
            candidates: str | list[str] = "loopback",
            process: bool = False,
            stun: bool = True,
        ) -> Any:
            servers = ice_servers if stun else []
            if process:
                peer: Any = ProcessPeer(peer_id, signaling_server.url, room, ice_servers=servers, candidates=candidates)
                await peer.start()
            else:
                peer = PeerAgent(peer_id, signaling_server.url, room, ice_servers=servers, candidates=candidates)
            made.append(peer)
            return peer

        yield make
        for peer in made:
            await peer.close()

    @pytest_asyncio.fixture
    async def external_peer(
        signaling_server: SignalingServer, stun_server: StunServer, request: pytest.FixtureRequest
    ) -> AsyncIterator[Any]:
        """Factory of programs: ``await external_peer("bot", [sys.executable, "bot.py"], room="room", env=None,
        cwd=None)`` starts another project's peer program with the external-peer convention's variables
        (docs/ci.md) — ``signaling_server``'s URL, the room, the id, ``stun_server`` as WEBRTC_ICE_SERVERS,
        WEBRTC_HOST_ADDRESSES=127.0.0.1 — in the test file's directory, and gives an ``ExternalPeer``:
        ``await bot.join()`` waits until the program joined, ``bot.output()`` is what it printed,
        ``bot.exited()`` its exit status. Every program (and what it started) is stopped at teardown."""
        from ..peer.external import ExternalPeer

        made: list[ExternalPeer] = []

        async def make(
            peer_id: str,
            command: str | list[str],
            room: str = "room",
            env: dict[str, str] | None = None,
            cwd: str | None = None,
        ) -> ExternalPeer:
            peer = ExternalPeer(
                peer_id,
                command,
                signaling_server,
                room,
                stun_server.ice_servers,
                cwd=str(cwd or request.path.parent),
                env={"WEBRTC_HOST_ADDRESSES": "127.0.0.1", **(env or {})},
            )
            await peer.start()
            made.append(peer)
            return peer

        yield make
        for peer in made:
            await peer.close()

    @pytest_asyncio.fixture
    async def sfu(signaling_server: SignalingServer) -> AsyncIterator[Any]:
        """An SFU (docs/sfu.md) in room ``room`` of ``signaling_server``, as peer ``sfu``; peers made by
        ``webrtc_peer`` reach it with ``offer("sfu")``.  Runs on the test's event loop."""
        from ..sfu.server import Sfu

        actor = await Sfu(signaling_server.url, "room").start()
        yield actor
        await actor.stop()

    @pytest_asyncio.fixture
    async def mcu(signaling_server: SignalingServer) -> AsyncIterator[Any]:
        """An MCU (docs/sfu.md) in room ``room`` of ``signaling_server``, as peer ``mcu``: each peer that
        offers audio to it gets the mix of the others back.  Runs on the test's event loop."""
        from ..sfu.mcu import Mcu

        actor = await Mcu(signaling_server.url, "room").start()
        yield actor
        await actor.stop()


ASYNC_FIXTURES = ("webrtc_peer", "external_peer", "sfu", "mcu")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """An async test using an async fixture of ours, which nothing would run: say exactly what to set."""
    import inspect

    used = [name for name in ASYNC_FIXTURES if name in getattr(pyfuncitem, "fixturenames", ())]
    if not used or not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    if pytest_asyncio is None:
        pytest.fail(
            f"{pyfuncitem.name} uses {used[0]}, an async fixture: install pytest-asyncio "
            f"(pip install pytest-asyncio) and set asyncio_mode = auto in your pytest ini",
            pytrace=False,
        )
    if pyfuncitem.get_closest_marker("asyncio") is None:
        pytest.fail(
            f"{pyfuncitem.name} uses {used[0]}, an async fixture, but pytest-asyncio is in strict mode and the "
            f"test is not marked: set asyncio_mode = auto in your pytest ini (and "
            f"asyncio_default_fixture_loop_scope = function), or mark the test @pytest.mark.asyncio",
            pytrace=False,
        )
    return None
