"""Each wire rule fails on a deliberately broken packet (crafted with scapy) and passes on correct traffic."""

from __future__ import annotations

from pathlib import Path

from pytest_webrtc.capture.packets import datagrams
from pytest_webrtc.capture.verify import WIRE_RULES, PeerCredentials, Verdict, WireContext, verify
from pytest_webrtc.stun import Message, MessageClass, Method

from ..wire_helpers import Frames

ALICE, BOB, STUN = ("127.0.0.1", 40001), ("127.0.0.1", 40002), ("127.0.0.1", 3478)
CONTEXT = WireContext(
    [
        PeerCredentials("alice", "aUfr", "alice-password-0123456", frozenset({ALICE})),
        PeerCredentials("bob", "bUfr", "bob-password-0123456789", frozenset({BOB})),
    ],
    {STUN},
)
ALICE_PWD, BOB_PWD = b"alice-password-0123456", b"bob-password-0123456789"


def binding_request(tid: bytes = b"B" * 12) -> Message:
    return Message(Method.BINDING, MessageClass.REQUEST, tid)


def binding_success(tid: bytes, mapped: tuple[str, int]) -> Message:
    return Message(Method.BINDING, MessageClass.SUCCESS, tid).add("XOR-MAPPED-ADDRESS", mapped)


def check_request(
    tid: bytes = b"C" * 12,
    username: str = "bUfr:aUfr",
    controlling: bool = True,
    use_candidate: bool = False,
    priority: bool = True,
) -> Message:
    m = Message(Method.BINDING, MessageClass.REQUEST, tid).add("USERNAME", username)
    if priority:
        m.add("PRIORITY", 1845494271)
    m.add("ICE-CONTROLLING" if controlling else "ICE-CONTROLLED", 42)
    if use_candidate:
        m.add("USE-CANDIDATE")
    return m


def judge(frames: Frames, context: WireContext | None = CONTEXT) -> Verdict:
    return verify(datagrams(frames.frames), context)


def rules(verdict: Verdict) -> set[tuple[int, str]]:
    return {(f.packet, f.rule) for f in verdict.findings}


def correct_session(frames: Frames) -> None:
    """The seed's wire: both peers ask STUN, then one connectivity check each way."""
    for peer, tid in ((ALICE, b"A" * 12), (BOB, b"Z" * 12)):
        frames.add(peer, STUN, binding_request(tid).encode(fingerprint=True))
        frames.add(STUN, peer, binding_success(tid, peer).encode(fingerprint=True))
    frames.add(ALICE, BOB, check_request(use_candidate=True).encode(integrity_key=BOB_PWD, fingerprint=True))
    frames.add(BOB, ALICE, binding_success(b"C" * 12, ALICE).encode(integrity_key=BOB_PWD, fingerprint=True))
    frames.add(
        BOB,
        ALICE,
        check_request(b"D" * 12, "aUfr:bUfr", controlling=False).encode(integrity_key=ALICE_PWD, fingerprint=True),
    )
    frames.add(ALICE, BOB, binding_success(b"D" * 12, BOB).encode(integrity_key=ALICE_PWD, fingerprint=True))


def test_correct_traffic_passes_every_rule(frames: Frames) -> None:
    correct_session(frames)
    verdict = judge(frames)
    assert verdict.findings == []
    assert verdict.ok and len(verdict.records) == 8 and all(r.valid for r in verdict.records)
    assert [len(e.transmissions) for e in verdict.exchanges] == [1, 1, 1, 1]
    assert all(e.response is not None for e in verdict.exchanges)
    assert [r.role for r in verdict.records][4:] == ["ice-check"] * 4


def test_every_wire_rule_is_exercised_by_this_module() -> None:
    source = Path(__file__).read_text()
    for rule in WIRE_RULES:
        if rule != "capture.loss":  # needs kernel drops; tested through the recorder
            assert f'"{rule}"' in source, rule


def test_malformed_stun_is_reported_with_its_packet_number(frames: Frames) -> None:
    data = bytearray(binding_request().encode(fingerprint=True))
    data[-1] ^= 0xFF
    frames.add(ALICE, STUN, bytes(data))
    frames.add(ALICE, STUN, b"\x00\x01\x00\x04" + bytes(16))  # length says 4, carries 0
    assert {(1, "fingerprint.mismatch"), (2, "header.length-mismatch")} <= rules(judge(frames))


def test_a_server_behind_a_translator_the_capture_does_not_see_is_not_judged_on_its_mapped_address(
    frames: Frames,
) -> None:
    """A topology's uplink masquerades what goes to your TURN server after the capture point: the address it
    maps is the masquerade's (seen with pion/turn answering Pion's Binding requests). Only that server is
    spared: the same answer from any other server is still a violation."""
    from dataclasses import replace

    elsewhere = ("198.18.7.1", 3478)
    frames.add(ALICE, elsewhere, binding_request(b"T" * 12).encode())
    frames.add(elsewhere, ALICE, binding_success(b"T" * 12, ("198.18.7.94", 40001)).encode())
    frames.add(ALICE, STUN, binding_request(b"S" * 12).encode())
    frames.add(STUN, ALICE, binding_success(b"S" * 12, ("198.18.7.94", 40001)).encode())
    verdict = judge(frames, replace(CONTEXT, translated={elsewhere}))
    assert rules(verdict) == {(4, "wire.xor-mapped-address")}  # the first answer is the translator's to give


def test_response_without_request(frames: Frames) -> None:
    frames.add(STUN, ALICE, binding_success(b"X" * 12, ALICE).encode())
    verdict = judge(frames)
    assert rules(verdict) == {(1, "wire.response-unmatched")}
    assert [f.outcome for f in verdict.findings] == ["warn"]  # the capture can miss a request: not a failure


def test_response_from_another_address(frames: Frames) -> None:
    frames.add(ALICE, STUN, binding_request().encode())
    frames.add(("127.0.0.2", 3478), ALICE, binding_success(b"B" * 12, ALICE).encode())
    assert rules(judge(frames)) == {(2, "wire.response-source")}


def test_xor_mapped_address_must_be_the_real_source(frames: Frames) -> None:
    frames.add(ALICE, STUN, binding_request().encode())
    frames.add(STUN, ALICE, binding_success(b"B" * 12, ("127.0.0.1", 9999)).encode())
    verdict = judge(frames)
    assert rules(verdict) == {(2, "wire.xor-mapped-address")}
    assert "came from 127.0.0.1:40001" in verdict.findings[0].detail


def test_ice_check_needs_fingerprint_and_valid_integrity(frames: Frames) -> None:
    frames.add(ALICE, BOB, check_request().encode(integrity_key=BOB_PWD))  # no FINGERPRINT
    frames.add(ALICE, BOB, check_request(b"E" * 12).encode(integrity_key=ALICE_PWD, fingerprint=True))  # wrong pwd
    frames.add(BOB, ALICE, binding_success(b"E" * 12, ALICE).encode(integrity_key=b"nope", fingerprint=True))
    found = rules(judge(frames))
    assert {(1, "fingerprint.missing"), (2, "integrity.mismatch"), (3, "integrity.mismatch")} <= found


def test_ice_username_priority_role_and_use_candidate(frames: Frames) -> None:
    frames.add(ALICE, BOB, check_request(username="aUfr:bUfr").encode(integrity_key=ALICE_PWD, fingerprint=True))
    frames.add(ALICE, BOB, check_request(b"F" * 12, priority=False).encode(integrity_key=BOB_PWD, fingerprint=True))
    both = check_request(b"G" * 12).add("ICE-CONTROLLED", 1)
    frames.add(ALICE, BOB, both.encode(integrity_key=BOB_PWD, fingerprint=True))
    controlled = check_request(b"H" * 12, "aUfr:bUfr", controlling=False, use_candidate=True)
    frames.add(BOB, ALICE, controlled.encode(integrity_key=ALICE_PWD, fingerprint=True))
    found = rules(judge(frames))
    assert {(1, "ice.username"), (2, "ice.priority"), (3, "ice.role"), (4, "ice.use-candidate")} <= found


def test_unknown_ufrag_leaves_integrity_unchecked_as_a_warning(frames: Frames) -> None:
    nobody = ("127.0.0.1", 40009)  # an address no peer announced, and a ufrag no peer has
    frames.add(ALICE, nobody, check_request(username="zzzz:aUfr").encode(integrity_key=b"x", fingerprint=True))
    verdict = judge(frames)
    warning = next(f for f in verdict.findings if f.rule == "ice.integrity-unchecked")
    assert warning.outcome == "warn"
    assert rules(verdict) == {(1, "ice.integrity-unchecked")}  # nothing to compare USERNAME with either


def test_without_context_the_username_form_is_still_checked(frames: Frames) -> None:
    frames.add(ALICE, BOB, check_request(username="no-colon").encode(fingerprint=True))
    assert (1, "ice.username") in rules(judge(frames, None))


def test_retransmissions_keep_the_request_and_back_off(frames: Frames) -> None:
    request = binding_request().encode()
    frames.add(ALICE, STUN, request)
    frames.add(ALICE, STUN, request, after=0.5)
    frames.add(ALICE, STUN, request, after=1.0)  # doubling: fine
    frames.add(ALICE, STUN, request, after=0.2)  # shrank: not fine
    frames.add(STUN, ALICE, binding_success(b"B" * 12, ALICE).encode(), after=0.001)
    verdict = judge(frames)
    assert rules(verdict) == {(4, "stun.retransmit-timing")}
    assert [t.number for t in verdict.exchanges[0].transmissions] == [1, 2, 3, 4]


def test_too_early_or_changed_retransmission(frames: Frames) -> None:
    frames.add(ALICE, STUN, binding_request().encode())
    frames.add(ALICE, STUN, binding_request().add("SOFTWARE", "changed").encode(), after=0.01)
    assert rules(judge(frames)) == {(2, "stun.retransmit-changed"), (2, "stun.retransmit-timing")}


def test_unanswered_request_is_a_warning(frames: Frames) -> None:
    frames.add(ALICE, STUN, binding_request().encode())
    correct_session(frames)  # later traffic: the request had time to be answered
    frames.add(ALICE, STUN, binding_request(b"Q" * 12).encode(), after=1.0)
    verdict = judge(frames)
    unanswered = [f for f in verdict.findings if f.rule == "stun.unanswered"]
    assert [(f.packet, f.outcome) for f in unanswered] == [(1, "warn")]  # the last one is within grace
    assert verdict.ok


def test_rfc5780_answers_from_another_address_are_expected(frames: Frames) -> None:
    other = ("127.0.0.2", 3479)
    frames.add(ALICE, STUN, binding_request().add("CHANGE-REQUEST", 6).encode())
    frames.add(other, ALICE, binding_success(b"B" * 12, ALICE).encode())  # from the other IP and port: fine
    frames.add(ALICE, STUN, binding_request(b"R" * 12).add("RESPONSE-PORT", 5555).encode())
    frames.add(STUN, ALICE, binding_success(b"R" * 12, ALICE).encode())  # to the wrong port: not fine
    assert rules(judge(frames)) == {(4, "wire.response-source")}


# -- the integrity key is the receiver's password -------------------------------------------------


def test_a_username_in_the_wrong_order_signed_right_is_the_username_finding_only(frames: Frames) -> None:
    # To Bob, signed with Bob's password (right), but USERNAME is aUfr:bUfr (the sender's ufrag first).
    frames.add(ALICE, BOB, check_request(username="aUfr:bUfr").encode(integrity_key=BOB_PWD, fingerprint=True))
    frames.add(BOB, ALICE, binding_success(b"C" * 12, ALICE).encode(integrity_key=BOB_PWD, fingerprint=True))
    assert rules(judge(frames)) == {(1, "ice.username")}


def test_a_check_signed_with_the_senders_password_is_an_integrity_mismatch(frames: Frames) -> None:
    frames.add(ALICE, BOB, check_request().encode(integrity_key=ALICE_PWD, fingerprint=True))
    assert rules(judge(frames)) == {(1, "integrity.mismatch")}


# -- unsigned 400 and 401 answers to checks (RFC 8489 §9.1.3) --------------------------------------


def error(tid: bytes, code: int) -> Message:
    return Message(Method.BINDING, MessageClass.ERROR, tid).add("ERROR-CODE", (code, "Unauthorized"))


def test_an_unsigned_401_or_400_to_a_check_is_allowed(frames: Frames) -> None:
    for code, tid in ((401, b"C" * 12), (400, b"E" * 12)):
        frames.add(ALICE, BOB, check_request(tid).encode(integrity_key=BOB_PWD, fingerprint=True))
        frames.add(BOB, ALICE, error(tid, code).encode(fingerprint=True))
    assert rules(judge(frames)) == set()


def test_an_unsigned_success_or_other_error_to_a_check_is_not(frames: Frames) -> None:
    frames.add(ALICE, BOB, check_request().encode(integrity_key=BOB_PWD, fingerprint=True))
    frames.add(BOB, ALICE, binding_success(b"C" * 12, ALICE).encode(fingerprint=True))
    frames.add(ALICE, BOB, check_request(b"E" * 12).encode(integrity_key=BOB_PWD, fingerprint=True))
    frames.add(BOB, ALICE, error(b"E" * 12, 487).encode(fingerprint=True))
    assert rules(judge(frames)) == {(2, "integrity.missing"), (4, "integrity.missing")}


def test_a_signed_401_must_be_signed_right(frames: Frames) -> None:
    frames.add(ALICE, BOB, check_request().encode(integrity_key=BOB_PWD, fingerprint=True))
    frames.add(BOB, ALICE, error(b"C" * 12, 401).encode(integrity_key=b"wrong", fingerprint=True))
    assert rules(judge(frames)) == {(2, "integrity.mismatch")}


# -- responses to retransmissions are judged like first responses ---------------------------------


def retransmitted(frames: Frames, request: bytes, src: tuple[str, int], dst: tuple[str, int]) -> None:
    frames.add(src, dst, request)
    frames.add(src, dst, request, after=0.5)  # a retransmission, RTO later


def test_a_wrong_mapped_address_in_the_answer_to_a_retransmission_is_caught(frames: Frames) -> None:
    retransmitted(frames, binding_request().encode(fingerprint=True), ALICE, STUN)
    frames.add(STUN, ALICE, binding_success(b"B" * 12, ALICE).encode(fingerprint=True))
    frames.add(STUN, ALICE, binding_success(b"B" * 12, ("127.0.0.1", 9999)).encode(fingerprint=True))
    assert rules(judge(frames)) == {(4, "wire.xor-mapped-address")}


def test_an_answer_to_a_retransmission_from_elsewhere_is_caught(frames: Frames) -> None:
    retransmitted(frames, binding_request().encode(fingerprint=True), ALICE, STUN)
    frames.add(STUN, ALICE, binding_success(b"B" * 12, ALICE).encode(fingerprint=True))
    frames.add(("127.0.0.2", 3478), ALICE, binding_success(b"B" * 12, ALICE).encode(fingerprint=True))
    assert rules(judge(frames)) == {(4, "wire.response-source")}


def test_bad_integrity_or_no_fingerprint_in_the_second_answer_to_a_check_is_caught(frames: Frames) -> None:
    retransmitted(frames, check_request().encode(integrity_key=BOB_PWD, fingerprint=True), ALICE, BOB)
    frames.add(BOB, ALICE, binding_success(b"C" * 12, ALICE).encode(integrity_key=BOB_PWD, fingerprint=True))
    frames.add(BOB, ALICE, binding_success(b"C" * 12, ALICE).encode(integrity_key=ALICE_PWD, fingerprint=True))
    retransmitted(frames, check_request(b"E" * 12).encode(integrity_key=BOB_PWD, fingerprint=True), ALICE, BOB)
    frames.add(BOB, ALICE, binding_success(b"E" * 12, ALICE).encode(integrity_key=BOB_PWD, fingerprint=True))
    frames.add(BOB, ALICE, binding_success(b"E" * 12, ALICE).encode(integrity_key=BOB_PWD))
    assert rules(judge(frames)) == {(4, "integrity.mismatch"), (8, "fingerprint.missing")}
    exchange = judge(frames).exchanges[0]
    assert [r.number for r in exchange.responses] == [3, 4] and exchange.response is not None


def test_answers_to_retransmissions_of_a_correct_exchange_pass(frames: Frames) -> None:
    retransmitted(frames, binding_request().encode(fingerprint=True), ALICE, STUN)
    for _ in range(2):
        frames.add(STUN, ALICE, binding_success(b"B" * 12, ALICE).encode(fingerprint=True))
    retransmitted(frames, check_request().encode(integrity_key=BOB_PWD, fingerprint=True), ALICE, BOB)
    for _ in range(2):
        frames.add(BOB, ALICE, binding_success(b"C" * 12, ALICE).encode(integrity_key=BOB_PWD, fingerprint=True))
    assert judge(frames).findings == []


def test_a_broken_retransmission_of_a_check_is_caught_in_the_retransmission(frames: Frames) -> None:
    frames.add(ALICE, BOB, check_request().encode(integrity_key=BOB_PWD, fingerprint=True))
    frames.add(ALICE, BOB, check_request(priority=False).encode(integrity_key=BOB_PWD, fingerprint=True), after=0.5)
    assert rules(judge(frames)) == {(2, "ice.priority"), (2, "stun.retransmit-changed")}


# -- after an ICE restart (RFC 8445 §9): every generation's credentials judge the checks -----------

RESTARTED = WireContext(
    [
        *CONTEXT.peers,
        PeerCredentials("alice~2", "aNew", "alice-password-new-0123", frozenset({ALICE})),
        PeerCredentials("bob~2", "bNew", "bob-password-new-012345", frozenset({BOB})),
    ],
    {STUN},
)


def test_checks_after_an_ice_restart_are_judged_with_the_new_credentials(frames: Frames) -> None:
    """Both new ufrags (signed with bob's new password), and Chromium's transition (its new ufrag,
    the remote's old one and password, before the answer) pass; a check hidden among them with a
    ufrag of no generation, or the new credentials in the wrong order, or signed with bob's old
    password for his new ufrag, is caught."""
    new_pwd = b"bob-password-new-012345"
    frames.add(ALICE, BOB, check_request(b"E" * 12, "bNew:aNew").encode(integrity_key=new_pwd, fingerprint=True))
    frames.add(ALICE, BOB, check_request(b"F" * 12, "bUfr:aNew").encode(integrity_key=BOB_PWD, fingerprint=True))
    frames.add(ALICE, BOB, check_request(b"G" * 12, "bNew:aStale").encode(integrity_key=new_pwd, fingerprint=True))
    frames.add(ALICE, BOB, check_request(b"H" * 12, "aNew:bNew").encode(integrity_key=new_pwd, fingerprint=True))
    frames.add(ALICE, BOB, check_request(b"I" * 12, "bNew:aNew").encode(integrity_key=BOB_PWD, fingerprint=True))
    found = {(n, rule) for n, rule in rules(judge(frames, RESTARTED)) if rule != "stun.unanswered"}
    assert found == {(3, "ice.username"), (4, "ice.username"), (5, "integrity.mismatch")}, found
    assert (1, "ice.username") in rules(judge(frames, CONTEXT))  # without the restart's SDPs: unknown ufrag
