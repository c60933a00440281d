"""The package's public surface: deliberate, complete, documented, and cheap to import."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_webrtc

ROOT = Path(__file__).parent.parent


def test_every_public_name_resolves_and_is_documented() -> None:
    section = (ROOT / "docs" / "api.md").read_text().split("## Public names", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
    for name in pytest_webrtc.__all__:
        value = getattr(pytest_webrtc, name)
        assert value is not None, name
        assert name in documented, f"docs/api.md does not list pytest_webrtc.{name}"
    assert documented <= set(pytest_webrtc.__all__) | {"__version__"}, "docs/api.md lists a name that is not public"


def test_the_surface_is_the_table_and_dir_shows_it() -> None:
    assert sorted(pytest_webrtc.__all__) == sorted(["__version__", *pytest_webrtc._SURFACE])
    assert len(set(pytest_webrtc.__all__)) == len(pytest_webrtc.__all__)
    assert dir(pytest_webrtc) == sorted(pytest_webrtc.__all__)
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        pytest_webrtc.nothing_here  # noqa: B018


def test_each_name_is_the_object_its_module_defines() -> None:
    from pytest_webrtc.errors import StepFailure
    from pytest_webrtc.scenario import load_scenario

    assert pytest_webrtc.StepFailure is StepFailure and pytest_webrtc.load_scenario is load_scenario
    assert issubclass(pytest_webrtc.Expectation, pytest_webrtc.WebRTCHarnessError)


def test_importing_the_package_loads_none_of_the_heavy_modules() -> None:
    code = (
        "import sys, pytest_webrtc; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiortc', 'scapy', 'jsonschema', 'websockets')"
        " or m.startswith('pytest_webrtc.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "['pytest_webrtc._version']"


def test_docs_list_every_fixture_and_every_peer_method() -> None:
    from pytest_webrtc import plugin
    from pytest_webrtc.peer.interface import HttpOfferPeer, MediaPeer, protocol_methods

    text = (ROOT / "docs" / "api.md").read_text()
    fixtures = set(re.findall(r"^\| `(\w+)` \| (?:function|session) \|", text, re.M))
    defined = {n for n in dir(plugin) if type(getattr(plugin, n)).__name__ == "FixtureFunctionDefinition"}
    assert fixtures == defined and "webrtc_peer" in defined
    methods = set(re.findall(r"^- `(\w+)\(", text, re.M))
    assert methods == set(protocol_methods(MediaPeer)) | set(protocol_methods(HttpOfferPeer))
