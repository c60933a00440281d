"""docs/ci.md's recipe with a program written the way its authors write it: a stock aiortc bot (every
interface but loopback gathered, nothing patched). It passes sealed; made wrong it fails with a
short message in the scenario's terms and its output as lines; unsealed, the refused candidates
are named with the fix. The recipe is read from the docs, so the docs cannot drift from what runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_webrtc.nat.netns import cannot_build_namespaces

ROOT = Path(__file__).parent.parent.parent
BOT = (ROOT / "tests" / "data" / "stock_bot.py").read_text()
sealed = pytest.mark.skipif(cannot_build_namespaces() is not None, reason=str(cannot_build_namespaces()))
pytestmark = pytest.mark.slow


def recipe() -> str:
    """The YAML of docs/ci.md's "Your peer in place of Alice or Bob"."""
    section = (ROOT / "docs" / "ci.md").read_text().split("## Your peer in place of Alice or Bob", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def run(pytester: pytest.Pytester, mode: str | None = None, extra: str = "") -> pytest.RunResult:
    pytester.makeini("[pytest]\naddopts = -p no:benchmark\n")
    text = recipe()
    if mode is not None:
        text = text.replace('command: "{python} bot.py"}', f'command: "{{python}} bot.py", env: {{BOT_MODE: {mode}}}}}')
        assert f"BOT_MODE: {mode}" in text
    (pytester.path / "bot.py").write_text(BOT)
    (pytester.path / "bot.yaml").write_text(extra + text)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "bot.yaml", timeout=120)


def failure(result: pytest.RunResult) -> str:
    """The first line of the failure: what the user reads first."""
    return next(line for line in result.stdout.lines if line.startswith("bot.yaml:"))


@sealed
def test_a_stock_aiortc_bot_passes_the_recipe(pytester: pytest.Pytester) -> None:
    result = run(pytester)
    result.assert_outcomes(passed=1)


@sealed
def test_a_bot_that_replies_wrongly_is_told_the_reply_expected(pytester: pytest.Pytester) -> None:
    result = run(pytester, "lower")
    result.assert_outcomes(failed=1)
    assert failure(result) == (
        "bot.yaml:12:1: step 6 (data, line 12): bot replied 'hello bot' to alice's 'hello bot' on 'data'; "
        "expected the reply 'HELLO BOT'"
    )
    assert "output of bot (nothing; all of it: " in result.stdout.str()  # its (empty) output is kept too


@sealed
def test_a_silent_bot_is_told_what_did_not_come(pytester: pytest.Pytester) -> None:
    result = run(pytester, "silent")
    result.assert_outcomes(failed=1)
    assert failure(result) == (
        "bot.yaml:12:1: step 6 (data, line 12): bot replied to 0 of 1 message(s) on 'data' within 5 s; "
        "expected the reply 'HELLO BOT' to alice's 'hello bot'"
    )


@sealed
def test_a_crashing_bot_shows_its_traceback_as_lines_and_keeps_it_beside_the_pcap(pytester: pytest.Pytester) -> None:
    result = run(pytester, "crash")
    result.assert_outcomes(failed=1)
    assert failure(result) == (
        "bot.yaml:9:1: step 3 (answer, line 9): bot (external) exited with 1 before answering alice; "
        "its last line: 'RuntimeError: the bot cannot parse this offer'"
    )
    out = result.stdout.str()
    kept = re.search(r"  output of bot \(\d+ lines; all of it: (\S+\.bot\.log)\):\n", out)
    assert kept is not None, out
    assert "    | Traceback (most recent call last):" in out
    assert "    | RuntimeError: the bot cannot parse this offer" in out
    assert "RuntimeError: the bot cannot parse this offer" in Path(kept.group(1)).read_text()


def test_unsealed_the_refused_candidates_are_named_with_the_fix(pytester: pytest.Pytester) -> None:
    """sealed: false (or no root): a program that offers no loopback candidate cannot be reached. The
    program here answers and trickles its candidates moved to a documentation address (RFC 5737), then
    closes its connection, and the run has no STUN server — so nothing is sent anywhere but loopback."""
    pytester.makeini("[pytest]\naddopts = -p no:benchmark\n")
    (pytester.path / "elsewhere.py").write_text(
        BOT.replace(
            '"candidate": line[2:],',
            '"candidate": re.sub(r" [0-9a-fA-F:.]+ \\d+ typ", " 203.0.113.7 40000 typ", line[2:]),',
        )
        .replace("import asyncio\n", "import asyncio\nimport re\n")
        .replace('await ws.send(json.dumps({"type": "end-of-candidates", "to": caller}))',
                 'await ws.send(json.dumps({"type": "end-of-candidates", "to": caller}))\n'
                 "                await pc.close()  # no check from it: alice has no candidate of its to answer"),
    )  # fmt: skip
    # no STUN server either: its answers would go to the program's non-loopback source address
    text = recipe().replace("{python} bot.py", "{python} elsewhere.py")
    text = text.replace("\nsteps:", "\nsealed: false\nservers: {stun: none}\nsteps:")
    text = text.replace("  - wait: {peers: alice, connection: connected}", "  - wait: {peers: alice, connection: connected, timeout: 2}")  # fmt: skip
    (pytester.path / "bot.yaml").write_text(text)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "bot.yaml", timeout=120)
    result.assert_outcomes(failed=1)
    assert re.fullmatch(
        r"bot\.yaml:13:1: step 5 \(wait, line 13\): alice: connection state connected did not happen within 2 s; "
        r"alice ignored \d candidate\(s\) of bot \(203\.0\.113\.7:40000\): not on loopback, and the harness's "
        r"peers send only to 127\.0\.0\.0/8 and ::1 outside namespaces; fix: drop 'sealed: false' so that bot runs "
        r"sealed in a namespace \(the default where the machine can\), or make it gather host candidates on the "
        r"addresses in WEBRTC_HOST_ADDRESSES \(127\.0\.0\.1\)",
        failure(result),
    ), failure(result)
    assert "[ignored host 203.0.113.7:40000]" in result.stdout.str()  # on alice's line of the ladder
