"""Every setting twice: a ``--webrtc-*`` option and its ini twin; the option wins (pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n"
SHOW = """\
from pytest_webrtc.plugin.collection import OVERRIDES_KEY


def test_show(request):
    print("OVERRIDES", sorted(request.config.stash[OVERRIDES_KEY].items()))
"""


def _overrides(pytester: pytest.Pytester, ini: str, *args: str) -> str:
    pytester.makeini(INI + ini)
    pytester.makepyfile(test_show=SHOW)
    result = pytester.runpytest_subprocess("-s", "-q", *args)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    (line,) = [line for line in result.stdout.lines if line.startswith("OVERRIDES")]
    return line


def test_the_ini_twins_are_read(pytester: pytest.Pytester) -> None:
    line = _overrides(
        pytester,
        "webrtc_keep_captures = always\nwebrtc_capture_dir = caps\nwebrtc_stun_server = 127.0.0.1:3478\n"
        "webrtc_stun_credentials = u:p\nwebrtc_stun_rfc5780 = true\nwebrtc_stun_tcp = true\n"
        "webrtc_stun_fingerprint = true\nwebrtc_stun_profile = webrtc\nwebrtc_signaling_url = ws://127.0.0.1:9\n",
    )
    caps = pytester.path / "caps"  # relative to the ini file's directory
    assert f"('capture_dir', PosixPath('{caps}'))" in line and "('keep', 'always')" in line, line
    assert "('signaling', {'url': 'ws://127.0.0.1:9'})" in line, line
    for part in ("'address': '127.0.0.1:3478'", "'user': 'u'", "'password': 'p'", "'rfc5780': True", "'tcp': True"):
        assert part in line, line
    assert "'fingerprint': True" in line and "'profile': 'webrtc'" in line, line


def test_the_defaults_without_an_ini(pytester: pytest.Pytester) -> None:
    line = _overrides(pytester, "")
    assert line == "OVERRIDES [('capture_dir', None), ('keep', 'failed')]", line


def test_the_option_beats_its_ini_twin(pytester: pytest.Pytester) -> None:
    line = _overrides(
        pytester,
        "webrtc_keep_captures = never\nwebrtc_stun_server = 127.0.0.1:3478\nwebrtc_stun_profile = webrtc\n",
        "--webrtc-keep-captures=always",
        "--webrtc-stun-server=127.0.0.1:5349",
        "--webrtc-stun-profile=rfc8489",
        "--webrtc-stun-tcp",
    )
    assert "('keep', 'always')" in line and "'address': '127.0.0.1:5349'" in line, line
    assert "'profile': 'rfc8489'" in line and "'tcp': True" in line and "'fingerprint': False" in line, line


@pytest.mark.parametrize(
    ("ini", "words"),
    [
        ("webrtc_keep_captures = sometimes\n", "webrtc_keep_captures must be always, failed or never, not 'sometimes'"),
        (
            "webrtc_stun_server = 127.0.0.1:3478\nwebrtc_stun_profile = chrome\n",
            "must be rfc8489 or webrtc, not 'chrome'",
        ),
        ("webrtc_stun_server = 127.0.0.1:3478\nwebrtc_stun_credentials = nocolon\n", "expected USER:PASSWORD"),
        ("webrtc_signaling_url = http://127.0.0.1:9\n", "expected ws://HOST:PORT"),
    ],
)
def test_a_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester, ini: str, words: str) -> None:
    pytester.makeini(INI + ini)
    pytester.makepyfile(test_show=SHOW)
    result = pytester.runpytest_subprocess("-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and words in result.stderr.str(), result.stderr.str()
