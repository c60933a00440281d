"""Steps of the network family: network (change a peer's link while the scenario runs).

The peer's link element (:mod:`pytest_webrtc.nat.link`) takes each change from its next packet:

- ``link: {delay: 100ms, loss: 5%}`` (both directions) or ``link: {up: {...}, down: {...}}``:
  new conditions, replacing the old ones;
- ``down: 3s``: the link is cut (every packet dropped, counted as ``down``) and restored after
  3 s, before the step ends — or, with ``background: true``, while the next steps run (the step
  returns at once: data sent meanwhile must get through after); ``down: true`` cuts it until a
  later ``up: true``;
- ``drop:``, ``delay:``, ``duplicate:`` ``{kind: dtls-client-hello, count: 2, by: 50ms,
  direction: up}``: the next ``count`` packets of that kind (each direction counting on its own,
  unless ``direction`` picks one) are dropped, delayed ``by``, or delivered twice;
- ``rebind: true``: the peer's NAT router forgets its UDP mappings and maps to new public ports
  (:mod:`pytest_webrtc.nat.rebind`) — no link element needed, a translating NAT type is.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ...errors import Expectation, HarnessConfigError
from ...nat.link import LinkFault, duration, parse_conditions
from ...nat.link_element import LinkElement
from ..context import RunContext
from ..model import LINK_KEYS, Step
from ..registry import step

__all__ = ["network"]


def _link_of(ctx: RunContext, name: str) -> LinkElement:
    topology = ctx.world.topology
    site = topology.sites.get(name) if topology is not None else None
    if site is None or site.link is None:  # the model refuses such scenarios at load time
        raise Expectation(f"{name} has no link element (topology: {{{name}: {{nat: ..., link: {{}}}}}})")
    return site.link


def _seconds(value: Any, what: str) -> float:
    try:
        return duration(value, what)
    except HarnessConfigError:
        raise Expectation(f"network {what}: {value!r} is not a duration (e.g. 3s)") from None


async def _restore(link: LinkElement, seconds: float) -> None:
    try:
        await asyncio.sleep(seconds)  # the outage itself, not a wait for something
    finally:
        link.set_down(False)


@step("network")
async def network(ctx: RunContext, s: Step) -> str:
    name = s.args["peer"]
    said = []
    if s.args.get("rebind"):
        assert ctx.world.topology is not None  # the model refuses a rebind without one
        try:
            ports = await asyncio.to_thread(ctx.world.topology.rebind, name)
        except HarnessConfigError as exc:
            raise Expectation(str(exc)) from None
        said.append(f"its NAT forgot its UDP mappings and maps to ports {ports} now")
    if not LINK_KEYS & set(s.args):
        return f"{name}: " + "; ".join(said)
    link = _link_of(ctx, name)
    if "link" in s.args:
        spec = s.args["link"]
        try:
            if "up" in spec or "down" in spec:
                link.set_conditions(parse_conditions(spec.get("up", {})), parse_conditions(spec.get("down", {})))
            else:
                link.set_conditions(parse_conditions(spec), parse_conditions(spec))
        except HarnessConfigError as exc:
            raise Expectation(str(exc)) from None
        said.append(f"new conditions {spec}")
    for action in ("drop", "delay", "duplicate"):
        if action in s.args:
            fault = s.args[action]
            by = _seconds(fault["by"], "delay by") if action == "delay" else 0.0
            ways = {"up": ("up",), "down": ("down",)}.get(fault.get("direction", ""), ("up", "down"))
            link.add_fault(LinkFault(fault["kind"], action, int(fault.get("count", 1)), by), ways)
            said.append(f"{action} the next {fault.get('count', 1)} {fault['kind']} packet(s) ({'/'.join(ways)})")
    down = s.args.get("down")
    if down is True:
        link.set_down(True)
        said.append("link down")
    elif down is not None and down is not False:
        seconds = _seconds(down, "down")
        link.set_down(True)
        if s.args.get("background"):
            ctx.background.append(asyncio.ensure_future(_restore(link, seconds)))
            said.append(f"link down for {seconds:g} s, while the next steps run")
        else:
            await _restore(link, seconds)
            said.append(f"link down for {seconds:g} s, then up again")
    if s.args.get("up") is True:
        link.set_down(False)
        said.append("link up")
    return f"{name}: " + "; ".join(said)
