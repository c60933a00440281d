"""The main job (until the scenario engine lands): our STUN server answering real clients.

Steps, each printed with its verdict:
  1. start the STUN server (UDP+TCP on 127.0.0.1, RFC 5780 with 127.0.0.2)
  2. strict probes over UDP and TCP (our client, raw bytes judged by the strict codec)
  3. aioice's STUN client gathers a server-reflexive candidate through it
  4. aiortc's ICE gathering puts a srflx candidate into an SDP offer
  5. coturn's turnutils_stunclient, a C client, when installed
  6. the server's own counters: every request answered, nothing dropped
"""

from __future__ import annotations

import asyncio
import shutil
import time

from .addresses import Address, format_hostport
from .peer.hosts import LOOPBACK, host_addresses
from .probe import probe
from .rules import Finding, Level, rule
from .stun.responder import ServerStats
from .stun.server import StunServer

__all__ = ["DEMO_RULES", "demo_main", "run_demo"]

# What real clients must get from our server; the probes' rules come from the conformance suite.
DEMO_RULES = {
    r.id: r
    for r in (
        rule(
            "demo.aioice-srflx", "RFC 8445 §5.1.1.2", "aioice's STUN client gathers a srflx candidate from our server"
        ),
        rule("demo.aiortc-srflx", "RFC 8445 §5.1.1.2", "an aiortc offer carries a srflx candidate from our server"),
        rule("demo.coturn-client", "RFC 8489 §7.3.1", "coturn's turnutils_stunclient gets a reflexive address"),
        rule("demo.counters", "-", "the server answered every request and dropped nothing", Level.MUST),
    )
}


def _judged(rule_id: str, ok: bool, detail: str) -> Finding:
    return Finding(rule_id, detail, "pass" if ok else "")


async def _aioice_gathering(server: Address, timeout: float = 10) -> Finding:
    import aioice

    connection = aioice.Connection(ice_controlling=True, stun_server=server)
    try:
        with host_addresses(LOOPBACK):
            await asyncio.wait_for(connection.gather_candidates(), timeout)
        srflx = [c for c in connection.local_candidates if c.type == "srflx"]
        host = [c for c in connection.local_candidates if c.type == "host"]
        if not srflx:
            return _judged("demo.aioice-srflx", False, "no srflx candidate gathered")
        ok = (srflx[0].host, srflx[0].port) == (host[0].host, host[0].port)
        detail = f"srflx {srflx[0].host}:{srflx[0].port} for host {host[0].host}:{host[0].port}"
        return _judged("demo.aioice-srflx", ok, detail)
    finally:
        await connection.close()


async def _aiortc_gathering(server: Address, timeout: float = 10) -> Finding:
    from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer(urls=f"stun:{format_hostport(server)}")]))
    try:
        pc.createDataChannel("demo")
        with host_addresses(LOOPBACK):
            await asyncio.wait_for(pc.setLocalDescription(await pc.createOffer()), timeout)
        lines = [line for line in pc.localDescription.sdp.splitlines() if "typ srflx" in line]
        return _judged(
            "demo.aiortc-srflx", bool(lines), lines[0].strip() if lines else "no 'typ srflx' line in the SDP"
        )
    finally:
        await pc.close()


async def _coturn_client(server: Address, timeout: float = 10) -> Finding:
    tool = shutil.which("turnutils_stunclient")
    if tool is None:
        return Finding("demo.coturn-client", "turnutils_stunclient is not installed (apt-get install coturn)", "skip")
    proc = await asyncio.create_subprocess_exec(
        tool,
        "-p",
        str(server[1]),
        server[0],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return _judged("demo.coturn-client", False, f"no answer within {timeout:g} s")
    line = next((x for x in out.decode(errors="replace").splitlines() if "reflexive addr" in x), "")
    ok = proc.returncode == 0 and "127.0.0.1" in line
    return _judged("demo.coturn-client", ok, line.strip() or out.decode()[-200:])


def _counters(stats: ServerStats) -> Finding:
    """Every request answered (a success or an error), nothing dropped."""
    ok = stats.dropped == 0 and stats.requests == stats.responses + stats.errors
    return _judged("demo.counters", ok, str(stats.as_dict()))


async def run_demo(verbose: bool = False) -> list[Finding]:
    findings: list[Finding] = []
    started = time.perf_counter()
    async with StunServer("127.0.0.1", other_host="127.0.0.2") as server:
        print(f"STUN server: {server.describe()}")
        assert server.udp_address is not None and server.tcp_address is not None
        steps = [
            probe(server.udp_address, ["udp"]),
            probe(server.tcp_address, ["tcp"]),
        ]
        for step in steps:
            for finding in await step:
                findings.append(finding)
                print(finding.line(), flush=True)
        for finding_coro in (_aioice_gathering, _aiortc_gathering, _coturn_client):
            finding = await finding_coro(server.udp_address)
            findings.append(finding)
            print(finding.line(), flush=True)
        counters = _counters(server.stats)
        findings.append(counters)
        print(counters.line())
        if verbose:
            for record in server.transactions:
                print(
                    f"  {record.transport} {format_hostport(record.client)} {record.method} "
                    f"{record.transaction_id} {record.outcome}"
                )
    print(f"demo took {time.perf_counter() - started:.2f} s")
    return findings


def demo_main(verbose: bool = False) -> int:
    findings = asyncio.run(run_demo(verbose))
    failed = sum(f.failed for f in findings)
    print(f"VERDICT: {'PASS' if not failed else 'FAIL'} ({len(findings) - failed} passed, {failed} failed)")
    return 1 if failed else 0
