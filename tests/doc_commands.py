"""Every command the docs show, and how a test runs it from an installed wheel outside the checkout.

A shell block of docs/*.md whose first line is ``# in a checkout`` holds commands that need a clone
(``scenarios/``, ``bench/``, ``interop/``): they are exempt. Every other command of ours in a shell
block (``python -m pytest_webrtc ...``, ``pytest ...``, ``pip ...``) must be a key of :data:`RUNS`;
``tests/test_packaging.py`` runs each value from a wheel in a fresh venv, outside the checkout,
against the servers it starts there. A value keeps the documented command and fills in what the
docs leave to the user (``[optional]`` claims, ``127.0.0.1:3478``: their server), and says which
exit status and which text prove it worked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parent.parent
CHECKOUT = "# in a checkout"
OURS = ("python -m pytest_webrtc", "pytest ", "python -m pytest", "pip ", "python -m pip", "python bench", "npx ")


@dataclass(frozen=True)
class Run:
    """How a documented command is run: its concrete words (``{stun}``, ``{pcap}``... filled in by the
    test), the exit status it must end with, a text its output must contain. ``server``: it runs until
    stopped; its first line must contain ``expect``."""

    words: str
    status: int = 0
    expect: str = ""
    server: bool = False


RUNS: dict[str, Run] = {
    "python -m pytest_webrtc inspect x.pcap": Run("inspect {pcap}", expect="verdict: PASS"),
    "python -m pytest_webrtc inspect x.pcap --format json": Run("inspect {pcap} --format json", expect='"ok": true'),
    "python -m pytest_webrtc inspect x.pcap --format html -o x.html": Run(
        "inspect {pcap} --format html -o {out}/x.html", expect="wrote"
    ),
    "python -m pytest_webrtc inspect x.pcap --port 3478 --host 127.0.0.1 --transaction 47b2": Run(
        "inspect {pcap} --port {stun_port} --host 127.0.0.1 --transaction {tid}",
        expect=" shown (--host 127.0.0.1 --port",
    ),
    "python -m pytest_webrtc conformance stun 127.0.0.1:3478 [--profile webrtc] [--tcp] [--fingerprint] "
    "[--tcp-address H:P] [--ipv6-address [::1]:3478] [--user U --password P] [--rfc5780]": Run(
        "conformance stun {stun} --profile webrtc --tcp --fingerprint", expect="judged by the profile webrtc"
    ),
    "pytest --webrtc-suite conformance/stun --webrtc-stun-server 127.0.0.1:3478 [--webrtc-stun-profile webrtc] "
    "[--webrtc-stun-tcp] [--webrtc-stun-credentials USER:PASSWORD] [--webrtc-stun-rfc5780] "
    "--junitxml=stun-conformance.xml": Run(
        "pytest --webrtc-suite conformance/stun --webrtc-stun-server {stun} --webrtc-stun-profile webrtc "
        "--webrtc-stun-tcp --junitxml={out}/stun-conformance.xml",
        expect="WebRTC conformance (STUN rules judged by the webrtc profile)",
    ),
    # coturn's two true defects (docs/ci.md) make the verdict 1
    "python -m pytest_webrtc conformance turn 127.0.0.1:3478 --user U --password P [--realm R] [--tcp] "
    "[--tcp-address H:P] [--tls H:P] [--tcp-relay] [--ipv6-relay] [--peer-address IP | --decoy] "
    "[--permission-lifetime S] [--timeout 2]": Run(
        "conformance turn {turn} --user {turn_user} --password {turn_password} --realm {turn_realm} --tcp",
        status=1,
        expect="FAIL  turn.channel-range",
    ),
    "pytest --webrtc-suite conformance/turn --webrtc-turn-server 127.0.0.1:3478 --webrtc-turn-credentials U:P "
    "[--webrtc-turn-realm R] [--webrtc-turn-tcp] [--webrtc-turn-peer-address IP] --junitxml=turn.xml": Run(
        "pytest --webrtc-suite conformance/turn/allocate.yaml --webrtc-turn-server {turn} "
        "--webrtc-turn-credentials {turn_user}:{turn_password} --webrtc-turn-realm {turn_realm} --webrtc-turn-tcp "
        "--junitxml={out}/turn.xml",
        expect="PASS  turn.allocate",
    ),
    "python -m pytest_webrtc conformance signaling ws://127.0.0.1:8765": Run(
        "conformance signaling {signaling}", expect="PASS  signaling.relay"
    ),
    "pytest --webrtc-suite conformance/signaling --webrtc-signaling-url ws://127.0.0.1:8765": Run(
        "pytest --webrtc-suite conformance/signaling --webrtc-signaling-url {signaling}", expect="5 passed"
    ),
    "python -m pytest_webrtc whip-server --port 8088 [--token T] [--ice-server stun:HOST:PORT]": Run(
        "whip-server --port 0 --token T --ice-server stun:{stun}", expect="WHIP server listening", server=True
    ),
    "python -m pytest_webrtc conformance whip https://HOST:7080/whip/endpoint/ID --cafile cert.pem [--token T]": Run(
        "conformance whip {whip}/whip/cam", expect="PASS  whip.media"
    ),
    "python -m pytest_webrtc conformance stun 127.0.0.1:3478": Run(
        "conformance stun {stun}", expect="PASS  stun.binding-udp"
    ),
    "python -m pytest_webrtc stun-server --port 0": Run(
        "stun-server --port 0", expect="STUN server listening: udp 127.0.0.1:", server=True
    ),
    "python -m pytest_webrtc signaling-server --port 0": Run(
        "signaling-server --port 0", expect="signaling server listening: ws://127.0.0.1:", server=True
    ),
    # every stack would take minutes: the same command with the one stack every machine has
    "python -m pytest_webrtc interop": Run(
        "interop --stacks aiortc --captures {out}/interop", expect="3 of 3 cells pass, 0 fail"
    ),
    "python -m pytest_webrtc interop --stacks firefox,gstreamer --format json -o cells.json": Run(
        "interop --stacks aiortc --format json -o {out}/cells.json"
    ),
    "pytest my_call.yaml": Run("pytest my_call.yaml", expect="1 passed"),
    "pytest --webrtc-scenario my_call.yaml": Run("pytest --webrtc-scenario my_call.yaml", expect="1 passed"),
    "pytest --webrtc-suite seed": Run("pytest --webrtc-suite seed", expect="PASS step 1 (join, line 15)"),
    'pytest --webrtc-suite media -m "not slow" -n 2': Run(
        'pytest --webrtc-suite media -m "not slow" -n 2', expect="passed"
    ),
}


def _command(lines: list[str]) -> str:
    """Continuation lines joined, the trailing comment gone, white space folded."""
    text = " ".join(line.rstrip("\\").strip() for line in lines)
    return " ".join(re.sub(r"\s+#\s.*$", "", text).split())


def documented() -> dict[str, list[str]]:
    """Each page's commands of ours outside '# in a checkout' blocks: page -> commands."""
    found: dict[str, list[str]] = {}
    for page in sorted((ROOT / "docs").glob("*.md")):
        for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", page.read_text(), re.S):
            lines = block.splitlines()
            if lines and lines[0].startswith(CHECKOUT):
                continue
            pending: list[str] = []
            for line in lines:
                if pending or line.strip().startswith(OURS):
                    pending.append(line)
                    if not line.rstrip().endswith("\\"):
                        found.setdefault(page.name, []).append(_command(pending))
                        pending = []
    return found
