"""The registry of other projects' programs (pytest_webrtc.programs): every one is here, and documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_webrtc.programs import PROGRAMS

ROOT = Path(__file__).parent.parent


def table() -> str:
    """docs/ci.md's table of the programs, as the registry says it."""
    rows = ["| program | what | installed by | started by | sealed | reaped |", "|---|---|---|---|---|---|"]
    rows += [
        f"| `{p.name}` | {p.what} | {p.install} | {p.started_by} | {p.sealed} | {p.reaped} |" for p in PROGRAMS.values()
    ]
    return "\n".join(rows) + "\n"


def test_every_program_of_another_project_can_run_here() -> None:
    """setup.sh installs and builds them all (CI forbids skips, so a missing one fails CI here, by name)."""
    missing = {name: why for name, program in PROGRAMS.items() if (why := program.missing()) is not None}
    if missing:
        pytest.skip("; ".join(f"{name}: {why}" for name, why in missing.items()))


def test_docs_list_every_program_as_the_registry_says() -> None:
    text = (ROOT / "docs" / "ci.md").read_text()
    assert table() in text, "docs/ci.md's programs table differs from pytest_webrtc.programs.PROGRAMS"


def test_a_missing_program_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import pytest_webrtc.programs as programs

    monkeypatch.setattr(programs, "interop_directory", lambda: tmp_path / "site-packages" / "interop")
    assert programs.PROGRAMS["werift"].missing() == (
        "werift's peer program ships with a checkout of pytest-webrtc, not with the installed package"
    )
    monkeypatch.setattr(programs.shutil, "which", lambda name: None)
    assert programs.PROGRAMS["coturn"].missing() == "turnserver is not installed (Debian package coturn)"
