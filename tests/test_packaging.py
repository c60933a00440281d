"""The wheel and the sdist carry what a user of another project needs, tried as that user would.

A wheel is built, installed (not editable) into a fresh venv, and used from a directory outside
the repository: the seed suite, a conformance suite and the user's own scenario run; the docs are
readable. The sdist holds the whole project (suites, docs, tests, set-up, licence).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
# One worker builds them: the wheel is built in the checkout's build/ directory, which two
# workers building at once (--dist loadgroup split this module once) trip over each other in.
pytestmark = pytest.mark.xdist_group("packaging")

OWN = """\
scenario: my own
peers:
  alice: {}
  bob: {}
steps:
  - join: [alice, bob]
  - offer: {from: alice, to: bob}
  - answer: {from: bob, to: alice}
  - candidates: {between: [alice, bob]}
  - data: {from: alice, to: bob}
"""


def run(argv: list[str], cwd: Path, timeout: float = 300, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"{argv}: {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        out,
    )
    code = f"from setuptools import build_meta; build_meta.build_sdist({str(out)!r})"
    run([sys.executable, "-c", code], ROOT)
    return next(out.glob("*.whl")), next(out.glob("*.tar.gz"))


@pytest.mark.slow
def test_the_wheel_carries_the_suites_and_the_docs(built: tuple[Path, Path]) -> None:
    names = set(zipfile.ZipFile(built[0]).namelist())
    assert "pytest_webrtc/suites/p2p_datachannel.yaml" in names
    assert "pytest_webrtc/suites/conformance/stun/binding_udp.yaml" in names
    assert "pytest_webrtc/suites/conformance/signaling/join.yaml" in names
    assert "pytest_webrtc/suites/conformance/turn/relay_loopback.yaml" in names
    assert "pytest_webrtc/docs/ci.md" in names and "pytest_webrtc/scenario/schema.json" in names


@pytest.mark.slow
def test_the_sdist_is_the_whole_project(built: tuple[Path, Path]) -> None:
    names = {name.split("/", 1)[1] for name in tarfile.open(built[1]).getnames() if "/" in name}
    for wanted in ("LICENSE", "setup.sh", "README.md", "tests/test_packaging.py", "tests/data/rfc5769.json",
                   "pytest_webrtc/suites/p2p_datachannel.yaml", "pytest_webrtc/docs/ci.md", "bench/fuzz.py", ".ci/run"):  # fmt: skip
        assert wanted in names, wanted
    assert not any("node_modules" in name for name in names)


@pytest.mark.slow
def test_a_wheel_in_a_fresh_venv_runs_the_suites_from_outside_the_repository(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    env_dir = tmp_path / "venv"
    # Dependencies come from this environment (no network in the test); the package itself only from the wheel.
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = str(env_dir / "bin" / "python")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", str(built[0])], tmp_path)
    user = tmp_path / "project"
    user.mkdir()
    (user / "my_own.yaml").write_text(OWN)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_WEBRTC_RUN")}
    where = run([python, "-c", "import pytest_webrtc; print(pytest_webrtc.__file__)"], user, env=env)
    assert where.startswith(str(env_dir)), where  # the wheel's copy, not the checkout's
    seed = run([python, "-m", "pytest", "-p", "no:cacheprovider", "--webrtc-suite", "seed"], user, env=env)
    assert "1 passed" in seed and "PASS step 1 (join, line 15)" in seed
    stun = run(
        [python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--webrtc-suite", "conformance/stun"], user, env=env
    )
    assert "16 passed" in stun, stun[-500:]
    own = run([python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "my_own.yaml"], user, env=env)
    assert "1 passed" in own
    docs = run([python, "-m", "pytest_webrtc", "docs", "ci"], user, env=env)
    assert docs.startswith("# pytest-webrtc in another project's CI")
