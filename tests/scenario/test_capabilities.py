"""What a step needs of a peer is checked at load time, with file:line, for every peer kind."""

from __future__ import annotations

import pytest
import yaml

from pytest_webrtc.errors import ScenarioError
from pytest_webrtc.peer.kinds import PEER_KINDS
from pytest_webrtc.peer.stacks import STACKS
from pytest_webrtc.scenario import load_scenario
from pytest_webrtc.scenario.steps import STEPS

# How each peer kind is declared in a scenario.
DECLARED = {
    "aiortc": "{}",
    "process": "{process: true}",
    "command": "{command: ./build/my-peer}",
    "offer-url": "{offer-url: 'http://127.0.0.1:9/offer'}",
    **{f"stack:{name}": f"{{stack: {name}}}" for name in STACKS},
}
# A minimal valid use of each step kind naming the peer "bob" wherever a peer can be named.
MINIMAL = {
    "join": "[bob]",
    "channel": "{peer: bob}",
    "offer": "{from: bob, to: alice}",
    "answer": "{from: bob, to: alice}",
    "stun": "{peers: [bob]}",
    "candidates": "{between: [alice, bob]}",
    "wait": "{peers: bob, connection: connected}",
    "data": "{from: bob, to: alice}",
    "bye": "{from: bob, to: alice}",
    "leave": "{peers: [bob]}",
    "expect-signaling": "{}",
    "expect-stun": "{}",
    "expect-peer": "{peer: bob, selected-pair: {local: host}}",
    "expect-wire": "{}",
    "stun-conformance": "{rule: stun.binding-udp}",
    "turn-conformance": "{rule: turn.allocate}",
    "signaling-conformance": "{rule: signaling.join}",
    "track": "{peer: bob, kind: video}",
    "expect-media": "{peer: bob, kind: video}",
    "expect-stats": "{peer: bob, kind: video}",
    "direction": "{peer: bob, kind: video, direction: sendonly}",
    "connect": "{peers: [bob], to: sfu}",
    "expect-sfu": "{forwarding: {bob: []}}",
    "remove-track": "{peer: bob, kind: video}",
    "nat-discovery": "{peer: bob}",
    "publish": "{peer: bob}",
    "network": "{peer: bob, down: true}",
    "play": "{peer: bob}",
    "call": "{from: bob, to: alice}",
    "restart-ice": "{from: bob, to: alice}",
}
# The roles "bob" plays where a step names two peers (the other one is alice, an aiortc peer).
ROLES = {"offer": "from", "answer": "from", "data": "from", "bye": "from"}


def scenario_text(kind: str, step: str, args: str) -> str:
    servers = "servers: {sfu: {}}\n" if step in ("connect", "expect-sfu") else ""
    if step == "network":  # a link element to change: bob behind one
        servers = "topology: {alice: none, bob: {nat: none, link: {}}}\n"
    # An answer or data needs an earlier offer between the two (the order check): alice offers to bob.
    before = "  - offer: {from: alice, to: bob}\n" if step in ("answer", "data") else ""
    alice = {"call": "{stack: aiortc}", "restart-ice": "{stack: chromium}"}.get(
        step, "{}"
    )  # a callee that echoes (and restarts)
    return (
        f"scenario: {step} with a {kind} peer\n{servers}peers:\n  alice: {alice}\n  bob: {DECLARED[kind]}\n"
        f"steps:\n  - join: [alice]\n{before}  - {step}: {args}\n"
    )


def refused(kind: str, step: str) -> list[str]:
    """What loading says of bob in this step: the capabilities it lacks (empty when it may)."""
    capabilities = PEER_KINDS[kind].capabilities
    args = yaml.safe_load(MINIMAL[step])
    return [
        need.what
        for need in STEPS[step].needs
        if need.key in ("peer", "peers", "between", "forwarding") or ROLES.get(step, "from") == need.key
        if need.applies(args if isinstance(args, dict) else {}) and not need.any_of & capabilities
    ]


def test_every_step_kind_and_peer_kind_has_a_case_here() -> None:
    assert set(MINIMAL) == set(STEPS)
    assert set(DECLARED) == set(PEER_KINDS)


CASES = [(kind, step) for kind in DECLARED for step in MINIMAL]


@pytest.mark.parametrize(("kind", "step"), CASES, ids=[f"{k}-{s}" for k, s in CASES])
def test_a_step_is_refused_at_load_time_when_the_peer_cannot_do_it(kind: str, step: str) -> None:
    text = scenario_text(kind, step, MINIMAL[step])
    lacking = refused(kind, step)
    if not lacking:
        load_scenario("s.yaml", text)  # loads: the kind can do what the step asks of it
        return
    with pytest.raises(ScenarioError) as error:
        load_scenario("s.yaml", text)
    description = PEER_KINDS[kind].description
    index = 3 if step in ("answer", "data") else 2
    assert str(error.value) == f"s.yaml:{error.value.line}:{error.value.column}: " + (
        f"step {index} ({step}): bob is {description} and cannot {lacking[0]}"
    )
    assert error.value.line == text.count("\n")  # the last line: the step's argument naming bob


def test_external_and_http_peers_are_refused_for_what_they_cannot_do() -> None:
    assert refused("command", "track") == ["be told to add a track"]
    assert refused("command", "wait") and refused("command", "channel") and refused("command", "offer")
    assert refused("offer-url", "join") and refused("offer-url", "candidates") and refused("offer-url", "bye")
    assert not refused("command", "join") and not refused("command", "answer") and not refused("offer-url", "answer")
    for kind in ("aiortc", "process"):  # everything but a call, which a stack: program makes by itself
        assert all(not refused(kind, step) for step in MINIMAL if step not in ("call", "restart-ice")), kind
        assert refused(kind, "call") == ["call another peer by itself (a stack: peer does)"]
        assert refused(kind, "restart-ice") == ["restart ICE (aiortc has no ICE restart)"]
    assert refused("stack:werift", "track") and not refused("stack:werift", "call")
    assert refused("stack:gstreamer", "restart-ice") and not refused("stack:chromium", "restart-ice")


@pytest.mark.parametrize(
    ("kind", "step", "message"),
    [
        ("command", "track", "step 2 (track): bob is an external program (command:) and cannot be told to add a track"),
        ("command", "wait", "bob is an external program (command:) and cannot report its connection states"),
        ("offer-url", "candidates", "bob is an echo server reached over HTTP (offer-url:) and cannot trickle ICE"),
        ("offer-url", "join", "bob is an echo server reached over HTTP (offer-url:) and cannot join a signaling room"),
    ],
)
def test_pytest_reports_it_as_a_collection_error_with_file_and_line(
    pytester: pytest.Pytester, kind: str, step: str, message: str
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n")
    pytester.makefile(".yaml", peer_kind=scenario_text(kind, step, MINIMAL[step]))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*invalid scenario: peer_kind.yaml:7:*{message}*"])
    assert "Traceback" not in result.stdout.str()


ORDER = {
    "answer-before-offer": (
        "  - answer: {from: bob, to: alice}\n",
        "step 2 (answer): bob answers alice, but no earlier step has alice offer to bob: "
        "add `- offer: {from: alice, to: bob}` before it",
    ),
    "data-before-negotiation": (
        "  - data: {from: alice, to: bob}\n",
        "step 2 (data): alice and bob have not negotiated a connection yet: an offer/answer between them must come first",
    ),
}


@pytest.mark.parametrize("case", sorted(ORDER))
def test_steps_in_an_impossible_order_are_refused_at_load_time(case: str) -> None:
    step, message = ORDER[case]
    text = "scenario: order\npeers: {alice: {}, bob: {}}\nsteps:\n  - join: [alice, bob]\n" + step
    with pytest.raises(ScenarioError) as error:
        load_scenario("s.yaml", text)
    assert str(error.value) == f"s.yaml:5:5: {message}"
    load_scenario("s.yaml", text.replace(step, step.rstrip("}\n") + ", expect-failure: true}\n"))  # expected: allowed
