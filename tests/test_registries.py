"""Registries are the truth: step kinds, conformance rules, NAT types and peer kinds match the schema and the docs."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_webrtc.conformance import signaling as signaling_conformance
from pytest_webrtc.conformance import stun as stun_conformance
from pytest_webrtc.conformance.profiles import PROFILES
from pytest_webrtc.nat.types import NAT_TYPES
from pytest_webrtc.peer.kinds import PEER_KINDS
from pytest_webrtc.scenario.model import schema
from pytest_webrtc.scenario.steps import FAMILIES, STEPS

ROOT = Path(__file__).parent.parent


def _table_keys(doc: str, after: str) -> list[str]:
    """The first-column backticked keys of the first table after the heading ``after``."""
    text = (ROOT / doc).read_text().split(after, 1)[1]
    rows = []
    for line in text.splitlines():
        match = re.match(r"^\| `([^`]+)` \|", line)
        if match:
            rows.append(match.group(1))
        elif rows and not line.startswith("|"):
            break
    return rows


def test_every_step_kind_is_in_the_schema_and_the_docs() -> None:
    assert sorted(schema()["$defs"]["steps"]) == sorted(STEPS)
    assert sorted(_table_keys("docs/scenarios.md", "## Steps")) == sorted(STEPS)


def test_every_step_kind_belongs_to_a_family_module() -> None:
    assert {kind.family for kind in STEPS.values()} == set(FAMILIES)
    for name, kind in STEPS.items():
        assert kind.run.__module__ == FAMILIES[kind.family].__name__, name


def test_the_conformance_rules_of_the_schema_are_the_suites() -> None:
    steps = schema()["$defs"]["steps"]
    assert steps["stun-conformance"]["properties"]["rule"]["enum"] == list(stun_conformance.CHECKS)
    assert steps["signaling-conformance"]["properties"]["rule"]["enum"] == list(signaling_conformance.CHECKS)
    assert set(stun_conformance.CHECKS) == set(stun_conformance.RULES)
    assert set(signaling_conformance.CHECKS) == set(signaling_conformance.RULES)
    shipped = {p.stem.replace("_", "-") for p in (ROOT / "scenarios" / "conformance" / "stun").glob("*.yaml")}
    assert {rule.removeprefix("stun.") for rule in stun_conformance.CHECKS} == shipped
    shipped = {p.stem.replace("_", "-") for p in (ROOT / "scenarios" / "conformance" / "signaling").glob("*.yaml")}
    assert {rule.removeprefix("signaling.") for rule in signaling_conformance.CHECKS} == shipped


def test_the_stun_profiles_of_the_schema_are_the_profiles() -> None:
    stun = schema()["properties"]["servers"]["properties"]["stun"]["oneOf"]
    (spec,) = [form for form in stun if "properties" in form]  # the form of servers.stun that has keys
    assert spec["properties"]["profile"]["enum"] == list(PROFILES)


def test_every_nat_type_is_in_the_schema_and_the_docs() -> None:
    per_peer = schema()["properties"]["topology"]["additionalProperties"]  # a NAT type, or {nat: ..., link: ...}
    assert per_peer["then"]["enum"] == list(NAT_TYPES) == per_peer["else"]["properties"]["nat"]["enum"]
    assert _table_keys("docs/nat.md", "## NAT types") == list(NAT_TYPES)


def test_every_peer_kind_and_its_capabilities_are_in_the_docs() -> None:
    text = (ROOT / "docs" / "scenarios.md").read_text().split("### What each kind of peer can do", 1)[1]
    text = text.split("\n\n- ", 1)[0]  # the table, up to the list that explains the capabilities
    rows = dict(re.findall(r"^\| `([\w:-]+)` \| [^|]+ \| ([\w, -]+) \|$", text, re.M))
    assert set(rows) == set(PEER_KINDS)
    for name, kind in PEER_KINDS.items():
        assert set(rows[name].split(", ")) == {c.value for c in kind.capabilities}, name
