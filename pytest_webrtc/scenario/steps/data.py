"""Steps of the data family: channel, data."""

from __future__ import annotations

from typing import Any

from ...errors import Expectation, PeerError
from ...peer.interface import Capability
from ..context import RunContext
from ..model import Step
from ..registry import need, step

COMMAND, ECHO = Capability.COMMAND, Capability.ECHO


@step("channel", need("peer", COMMAND, what="be told to open a data channel"))
async def channel(ctx: RunContext, s: Step) -> str:
    label = s.args.get("label", "data")
    await ctx.commanded(s.args["peer"]).add_channel(
        label,
        ordered=s.args.get("ordered", True),
        max_retransmits=s.args.get("max-retransmits"),
        max_packet_lifetime=s.args.get("max-packet-lifetime"),
    )
    ctx.channel_ordered[label] = bool(s.args.get("ordered", True))
    return f"{s.args['peer']} opened data channel {label!r}"


def _payloads(s: Step, sender: str) -> list[str | bytes]:
    send = s.args.get("send", f"hello from {sender}")
    count = int(s.args.get("count", 1))
    out: list[str | bytes] = []
    for i in range(count):
        if isinstance(send, str):
            out.append(send if count == 1 else f"{send} #{i}")
        elif "binary" in send:
            out.append(bytes((j + i) % 256 for j in range(send["binary"])))
        else:
            out.append("".join(chr(0x61 + (j + i) % 26) for j in range(send["text"])))
    return out


@step(
    "data",
    need("from", COMMAND, what="be told to send data (send from the other peer: it echoes)"),
    need("to", COMMAND, ECHO, what="receive data observably"),
)
async def data(ctx: RunContext, s: Step) -> str:
    from ...signaling.drivers import driver

    sender, receiver = s.args["from"], s.args["to"]
    label = s.args.get("channel", "data")
    payloads = _payloads(s, sender)
    remote = receiver in driver(ctx.world.signaling_protocol).remotes  # a plugin of the server (Janus's echotest)
    echo = remote or not ctx.can(receiver, COMMAND)  # an external peer echoes: the sender gets the data back
    listener = ctx.commanded(sender if echo else receiver)
    before = (await listener.get_report()).get("messages", {}).get(label, 0)
    for payload in payloads:
        await ctx.commanded(sender).send(label, payload, timeout=s.timeout)
    ordered = ctx.channel_ordered.get(label, True)
    if "arrive" in s.args:  # an unreliable channel: what arrives in the step's time, judged as a subset
        return await _lossy(ctx, s, listener, label, before, payloads, ordered)
    expected: list[str | bytes] = payloads
    if "reply" in s.args:  # what comes back for each message, "{sent}" standing for it
        expected = [str(s.args["reply"]).replace("{sent}", p if isinstance(p, str) else p.decode()) for p in payloads]
    try:
        received = (await listener.wait_messages(label, before + len(payloads), timeout=s.timeout))[before:]
    except PeerError as exc:  # not all came: say what did, in the scenario's terms
        received = (await listener.wait_messages(label, 0, timeout=1))[before:]
        missing = _missing(s, sender, receiver, label, payloads, expected, received, echo)
        closed = f"data channel {label!r} closed after" in str(exc)  # the agent's words: the other side reset it
        raise Expectation(missing + ("; the channel was closed meanwhile" if closed else "")) from None
    same = received == expected if ordered else sorted(map(repr, received)) == sorted(map(repr, expected))
    if not same:
        raise Expectation(_differs(s, sender, receiver, label, payloads, expected, received, echo))
    size = sum(len(p) for p in payloads)
    kind = "binary" if isinstance(payloads[0], bytes) else "text"
    echoed = f", echoed back by {receiver}" if echo else ""
    if "reply" in s.args:
        echoed = f", answered by {receiver} as {s.args['reply']!r}"
    return f"{sender} -> {receiver} over {label!r}: {len(payloads)} {kind} message(s), {size} bytes, intact{echoed}"


async def _lossy(
    ctx: RunContext, s: Step, listener: Any, label: str, before: int, payloads: list[str | bytes], ordered: bool
) -> str:
    """``arrive: COUNT``: the messages that came within the step's timeout (all of them end it
    sooner) must be some of those sent, each once, in the order sent when the channel is ordered."""
    from ...errors import PeerError
    from ..model import count_matches

    try:
        received = (await listener.wait_messages(label, before + len(payloads), timeout=s.timeout))[before:]
    except PeerError:  # some were lost: what came is all there is
        received = (await listener.wait_messages(label, 0, timeout=1))[before:]
    sender, receiver = s.args["from"], s.args["to"]
    positions = [payloads.index(m) if m in payloads else -1 for m in received]
    if -1 in positions:
        raise Expectation(
            f"{receiver} received a message {sender} never sent on {label!r}: {received[positions.index(-1)]!r:.60}"
        )
    if len(set(positions)) != len(positions):
        raise Expectation(f"{receiver} received a message twice on {label!r}")
    if ordered and positions != sorted(positions):
        first = next(i for i in range(1, len(positions)) if positions[i] < positions[i - 1])
        raise Expectation(
            f"the ordered channel {label!r} delivered message #{positions[first]} after #{positions[first - 1]}"
        )
    if not count_matches(s.args["arrive"], len(received)):
        raise Expectation(
            f"expected {s.args['arrive']} of {len(payloads)} messages to arrive on {label!r}, got {len(received)}"
        )
    order = ", in the order sent" if ordered else ""
    return f"{sender} -> {receiver} over {label!r}: {len(received)} of {len(payloads)} message(s) arrived{order}, none twice"


def _shown(value: str | bytes) -> str:
    """A message as a person reads it: text quoted (cut at 60 characters), binary by its size."""
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    return repr(value) if len(value) <= 60 else repr(value[:57]) + "..."


def _which(i: int, count: int) -> str:
    return f" (message #{i + 1} of {count})" if count > 1 else ""


def _differs(
    s: Step, sender: str, receiver: str, label: str, sent: list[Any], expected: list[Any], got: list[Any], echo: bool
) -> str:
    """What came is not what was expected: the first message that differs, in the step's terms —
    the reply asked for, the echo, or the data itself."""
    i = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b), None)
    if i is None:  # each expected one came, and more
        return (
            f"{len(got)} message(s) came on {label!r} for the {len(sent)} {sender} sent: {_shown(got[len(sent)])} too"
        )
    a, b = expected[i], got[i]
    if isinstance(a, bytes) and isinstance(b, bytes) and len(a) == len(b):
        at = next(j for j, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
        what = f"{len(b)} bytes differing from byte {at} (0x{b[at]:02x}, expected 0x{a[at]:02x})"
    else:
        what = _shown(b)
    where = f" on {label!r}{_which(i, len(expected))}"
    if "reply" in s.args:
        return f"{receiver} replied {what} to {sender}'s {_shown(sent[i])}{where}; expected the reply {_shown(a)}"
    if echo:
        return f"{receiver} echoed back {what} for {sender}'s {_shown(a)}{where}; an echo is the message unchanged"
    return f"{receiver} received {what} where {sender} sent {_shown(a)}{where}"


def _missing(
    s: Step, sender: str, receiver: str, label: str, sent: list[Any], expected: list[Any], got: list[Any], echo: bool
) -> str:
    """Fewer messages came than were sent within the step's time."""
    came = f"{len(got)} of {len(sent)}"
    if "reply" in s.args:
        first = f"expected the reply {_shown(expected[len(got)])} to {sender}'s {_shown(sent[len(got)])}"
        return f"{receiver} replied to {came} message(s) on {label!r} within {s.timeout:g} s; {first}"
    if echo:
        return (
            f"{receiver} echoed back {came} message(s) on {label!r} within {s.timeout:g} s; the first missing: "
            f"{sender}'s {_shown(sent[len(got)])}"
        )
    return f"{receiver} received {came} message(s) {sender} sent on {label!r} within {s.timeout:g} s"
