"""One catalogue: every rule has a level, a section and a failing test case; docs and schema follow it."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from pytest_webrtc.catalogue import FAMILIES, complete
from pytest_webrtc.rules import OUTCOMES, Finding, Level, rule

ROOT = Path(__file__).parent.parent

# rule -> the test that breaks it ("module::function"); a family's table of broken cases counts
# for every rule it lists (the test is parametrized over it).
TABLES = {
    "tests.stun.test_checks": ("BROKEN", "test_rule_fails_on_broken_message"),
    "tests.conformance.test_stun": ("BROKEN", "test_each_rule_fails_on_a_server_broken_for_it"),
    "tests.conformance.test_signaling": ("BROKEN", "test_each_rule_fails_on_a_server_broken_for_it"),
    "tests.conformance.test_turn": ("BROKEN", "test_each_rule_fails_on_a_server_broken_for_it"),
    "tests.signaling.test_peerjs": ("BROKEN", "test_each_rule_fails_on_a_server_broken_for_it"),
    "tests.whip.test_conformance": ("BROKEN", "test_each_rule_fails_on_an_endpoint_broken_for_it"),
}
CASES = {
    "stun.binding-tcp": "tests.conformance.test_stun::test_binding_tcp_fails_without_a_tcp_server",
    "turn.relay-private": (
        "tests.conformance.test_turn_servers::test_relay_private_warns_on_coturn_as_shipped_and_passes_with_denied_ranges"
    ),
    "stun.malformed-attribute": "tests.conformance.test_stun::test_malformed_attribute_is_a_should_and_only_warns",
    "stun.classic-client": "tests.conformance.test_stun::test_classic_clients_are_a_should",
    "wire.response-unmatched": "tests.capture.test_verify::test_response_without_request",
    "wire.response-source": "tests.capture.test_verify::test_response_from_another_address",
    "wire.xor-mapped-address": "tests.capture.test_verify::test_xor_mapped_address_must_be_the_real_source",
    "ice.username": "tests.capture.test_verify::test_ice_username_priority_role_and_use_candidate",
    "ice.priority": "tests.capture.test_verify::test_ice_username_priority_role_and_use_candidate",
    "ice.role": "tests.capture.test_verify::test_ice_username_priority_role_and_use_candidate",
    "ice.use-candidate": "tests.capture.test_verify::test_ice_username_priority_role_and_use_candidate",
    "ice.integrity-unchecked": "tests.capture.test_verify::test_unknown_ufrag_leaves_integrity_unchecked_as_a_warning",
    "stun.retransmit-changed": "tests.capture.test_verify::test_too_early_or_changed_retransmission",
    "stun.retransmit-timing": "tests.capture.test_verify::test_too_early_or_changed_retransmission",
    "stun.unanswered": "tests.capture.test_verify::test_unanswered_request_is_a_warning",
    "capture.loss": "tests.scenario.test_wire::test_kernel_drops_are_a_capture_loss_note_that_does_not_fail_the_verdict",
    "rtp.version": "tests.capture.test_rtp::test_wrong_version_on_a_media_flow",
    "rtp.payload-type": "tests.capture.test_rtp::test_payload_type_not_negotiated",
    "rtp.sequence": "tests.capture.test_rtp::test_sequence_jumps_and_repeats",
    "rtp.timestamp": "tests.capture.test_rtp::test_timestamps_that_do_not_follow_the_clock",
    "rtp.ssrc-collision": "tests.capture.test_rtp::test_ssrc_reused_by_another_source",
    "rtcp.nack-format": "tests.capture.test_feedback::test_feedback_of_the_wrong_length_is_caught_after_correct_ones",
    "rtcp.pli-format": "tests.capture.test_feedback::test_feedback_of_the_wrong_length_is_caught_after_correct_ones",
    "rtx.ssrc": "tests.capture.test_feedback::test_retransmissions_on_the_original_ssrc_are_caught_once",
    "rtx.timestamp": "tests.capture.test_feedback::test_a_retransmission_with_another_timestamp_is_caught",
    "dtls.fingerprint": "tests.capture.test_dtls::test_a_certificate_that_does_not_match_its_fingerprint_is_caught",
    "dtls.handshake": "tests.capture.test_dtls::test_a_client_hello_without_answer_is_noted",
    "dtls.mti-suite": "tests.capture.test_dtls::test_a_server_refusing_the_mandatory_suite_is_caught",
    "dtls.retransmit-timing": "tests.capture.test_dtls::test_client_hello_retransmissions_follow_the_timer",
    "ice.consent-interval": "tests.capture.test_consent::test_consent_checks_are_judged_on_their_intervals",
    "ice.consent-expired": "tests.capture.test_consent::test_sending_after_consent_expired_is_caught",
    "demo.aioice-srflx": "tests.test_demo::test_aioice_srflx_fails_when_the_mapped_port_is_wrong",
    "demo.aiortc-srflx": "tests.test_demo::test_aiortc_srflx_fails_when_the_server_refuses",
    "demo.coturn-client": "tests.test_demo::test_coturn_client_fails_when_nothing_answers",
    "demo.counters": "tests.test_demo::test_counters_fail_when_the_server_dropped_a_request",
}


def failing_cases() -> dict[str, str]:
    out = dict(CASES)
    for module_name, (table, test) in TABLES.items():
        module = importlib.import_module(module_name)
        out.update({rule_id: f"{module_name}::{test}" for rule_id in getattr(module, table)})
    return out


def test_every_rule_has_a_failing_case() -> None:
    cases = failing_cases()
    missing = sorted(set(complete()) - set(cases))
    assert missing == [], f"rules without a failing test case: {missing}"
    assert sorted(set(cases) - set(complete())) == [], "failing cases of rules that do not exist"


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_each_named_case_exists_and_names_its_rule(rule_id: str) -> None:
    module_name, function = CASES[rule_id].split("::")
    test = getattr(importlib.import_module(module_name), function)
    assert f'"{rule_id}"' in inspect.getsource(test), f"{CASES[rule_id]} does not check {rule_id}"


def test_every_rule_has_a_section_a_level_and_a_summary() -> None:
    for rule_id, record in complete().items():
        assert re.fullmatch(r"(RFC \d+ §[\w.]+|signaling v1 §\w+|peerjs §\w+|WHEP §[\w.]+|-)", record.section), rule_id
        assert isinstance(record.level, Level) and record.summary and record.id == rule_id
    assert sum(map(len, FAMILIES.values())) == len(complete())  # every rule belongs to one family


def test_a_broken_rule_takes_the_outcome_of_its_level() -> None:
    assert [Level.MUST.outcome, Level.SHOULD.outcome, Level.MAY.outcome] == ["fail", "warn", "info"]
    must, should = Finding("fingerprint.mismatch", "x"), Finding("stun.unanswered", "y", packet=3)
    assert (must.outcome, must.failed, should.outcome, should.ok) == ("fail", True, "warn", True)
    assert str(should) == "packet 3: stun.unanswered (RFC 8489 §6.2.1): y"
    assert Finding("stun.binding-udp", "fine", "pass").line() == "PASS  stun.binding-udp (RFC 8489 §12): fine"
    with pytest.raises(ValueError, match="unknown rule 'no.such.rule'"):
        Finding("no.such.rule", "x")
    with pytest.raises(ValueError, match="unknown outcome 'maybe'"):
        Finding("fingerprint.mismatch", "x", "maybe")
    with pytest.raises(ValueError, match="registered twice"):
        rule("fingerprint.mismatch", "RFC 1 §1", "another meaning")
    assert set(OUTCOMES) == {"pass", "fail", "warn", "info", "skip"}


def _doc_rows(path: str) -> dict[str, tuple[str, str]]:
    """``| `rule` | section | LEVEL | ...`` rows of a docs table."""
    text = (ROOT / path).read_text()
    return {
        rid: (section.strip(), level.strip())
        for rid, section, level in re.findall(r"^\| `([a-z0-9.\-]+)` \| ([^|]+) \| (MUST|SHOULD|MAY) \|", text, re.M)
    }


@pytest.mark.parametrize(
    ("family", "doc"),
    [("stun conformance", "docs/ci.md"), ("turn conformance", "docs/ci.md"), ("signaling conformance", "docs/ci.md"),
     ("peerjs conformance", "docs/ci.md"), ("whip conformance", "docs/ci.md"), ("whep conformance", "docs/ci.md"),
     ("wire", "docs/capture.md"),
     ("rtp", "docs/capture.md"), ("rtcp feedback and retransmission", "docs/capture.md"), ("dtls", "docs/capture.md"), ("consent", "docs/capture.md")],
)  # fmt: skip
def test_the_docs_list_every_rule_with_its_section_and_level(family: str, doc: str) -> None:
    rows = _doc_rows(doc)
    for rule_id, record in FAMILIES[family].items():
        assert rule_id in rows, f"{doc} does not list {rule_id}"
        assert rows[rule_id] == (record.section, record.level.value), rule_id
