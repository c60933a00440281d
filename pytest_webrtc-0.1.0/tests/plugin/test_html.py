"""pytest-html: every scenario kind's report gets its ladder (SVG) and a link to its kept capture.

The suite runs with pytest-html installed (setup.sh installs it); these tests also run a session
without it (``-p no:html``), so both are covered.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytest_html", reason="pytest-html is not installed (pip install pytest-html)")

INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n"
WITH_SFU = """\
scenario: an SFU in the room
servers:
  sfu: {}
peers:
  alice: {}
steps:
  - join: [alice]
  - connect: {peers: [alice], to: sfu}
"""


def test_a_scenario_with_an_sfu_gets_its_ladder_in_the_html_report(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makefile(".yaml", with_sfu=WITH_SFU)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--html=report.html", "--webrtc-keep-captures", "always"
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    report = (pytester.path / "report.html").read_text()
    assert "&lt;svg" in report or "<svg" in report, "no ladder in the report"
    assert "sfu" in report and "alice" in report
    assert "capture with_sfu" in report  # the kept pcap, linked


def test_without_pytest_html_the_same_run_passes(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makefile(".yaml", with_sfu=WITH_SFU)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:html")
    result.assert_outcomes(passed=1)


def test_the_svg_gives_a_column_to_every_actor_a_row_names() -> None:
    from pytest_webrtc.inspect import render_svg
    from pytest_webrtc.ladder import Ladder, LadderRow

    ladder = Ladder(["alice", "signaling"], [LadderRow(1.0, "sfu", "signaling", "join")])
    svg = render_svg(ladder)
    assert ">sfu</text>" in svg and ladder.columns() == ["alice", "signaling", "sfu"]
