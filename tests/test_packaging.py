"""The wheel and the sdist carry what a user of another project needs, tried as that user would.

A wheel is built, installed (not editable) into a fresh venv, and used from a directory outside
the repository: the seed suite, a conformance suite and the user's own scenario run; the docs are
readable. The sdist holds the whole project (suites, docs, tests, set-up, licence).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from pytest_webrtc.nat.netns import cannot_build_namespaces
from tests.doc_commands import RUNS, Run

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
    assert "interop/pion/src/pion-peer/main.go" in names  # Pion's sources, not its builds
    assert not any(name.startswith(("interop/pion/bin", "interop/pion/.gocache")) for name in names)


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


def _venv(built: tuple[Path, Path], tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A fresh venv with the wheel (dependencies from this environment: no network), and the
    environment a user's shell would have (no PYTHONPATH into the checkout)."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = str(env_dir / "bin" / "python")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", str(built[0])], tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_WEBRTC_RUN")}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}"  # an activated venv: `pytest`, `python` are its own
    return python, env


def _server(argv: list[str], cwd: Path, env: dict[str, str], expect: str) -> tuple[subprocess.Popen[str], str]:
    """A long-running command of ours: its first line (which must say ``expect``), and the process."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    line = _line_with(proc, expect)
    assert expect in line, f"{argv}: {line!r}"
    return proc, line


def _line_with(proc: subprocess.Popen[str], expect: str, lines: int = 20) -> str:
    """The first of its first ``lines`` lines that says ``expect`` (a log line may come before), else the last read."""
    assert proc.stdout is not None
    line = ""
    for _ in range(lines):
        line = proc.stdout.readline()
        if expect in line or not line:
            break
    return line


def _stop(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


@pytest.mark.slow
def test_every_documented_command_runs_from_the_wheel_outside_the_checkout(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    """Each command of docs/ (tests/doc_commands.py: all but '# in a checkout' blocks), as a user with the
    wheel would run it, against servers started from the same wheel (coturn for TURN)."""
    from pytest_webrtc.addresses import format_hostport
    from pytest_webrtc.coturn import CoturnTurn

    python, env = _venv(built, tmp_path)
    user, out = tmp_path / "project", tmp_path / "out"
    user.mkdir()
    out.mkdir()
    (user / "my_call.yaml").write_text(OWN)
    ours = [python, "-m", "pytest_webrtc"]
    servers: list[subprocess.Popen[str]] = []
    turn = CoturnTurn()
    try:
        stun, line = _server([*ours, "stun-server", "--port", "0"], user, env, "STUN server listening")
        servers.append(stun)
        stun_address = line.split("udp ", 1)[1].split(",")[0]
        signaling, line = _server([*ours, "signaling-server", "--port", "0"], user, env, "signaling server listening")
        servers.append(signaling)
        signaling_url = line.split("listening: ", 1)[1].split()[0]
        whip, line = _server([*ours, "whip-server", "--port", "0"], user, env, "WHIP server listening")
        servers.append(whip)
        whip_base = line.split("listening: ", 1)[1].split("/whip/", 1)[0]
        coturn = turn.start()
        seed = run([python, "-m", "pytest", "-p", "no:cacheprovider", "--webrtc-suite", "seed",
                    "--webrtc-keep-captures", "always", "--webrtc-capture-dir", str(out / "caps")], user, env=env)  # fmt: skip
        assert "1 passed" in seed
        pcap = next((out / "caps").glob("*.pcap"))
        stun_port = json.loads(Path(f"{pcap}.json").read_text())["stun_servers"][0][1]
        messages = json.loads(run([*ours, "inspect", str(pcap), "--format", "json"], user, env=env))["messages"]
        values = {
            "stun": stun_address, "stun_port": stun_port, "pcap": pcap, "out": out, "signaling": signaling_url,
            "whip": whip_base, "turn": format_hostport(coturn.address), "turn_user": coturn.user,
            "turn_password": coturn.password, "turn_realm": coturn.realm,
            "tid": next(m["transaction_id"] for m in messages if stun_port in (m["src"][1], m["dst"][1])),
        }  # fmt: skip
        problems = []
        for documented, how in RUNS.items():
            problem = _run_documented(how, values, python, user, env)
            if problem:
                problems.append(f"{documented}\n    ran: {how.words}\n    {problem}")
        assert not problems, "\n".join(problems)
    finally:
        for proc in servers:
            _stop(proc)
        turn.stop()


def _run_documented(how: Run, values: dict[str, object], python: str, cwd: Path, env: dict[str, str]) -> str:
    """Run one documented command as its Run says; what went wrong, or ''."""
    words = shlex.split(how.words.format(**values))
    argv = [python, "-m", "pytest", "-p", "no:cacheprovider", *words[1:]] if words[0] == "pytest" else [
        python, "-m", "pytest_webrtc", *words]  # fmt: skip
    if how.server:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)  # fmt: skip
        line = _line_with(proc, how.expect)
        _stop(proc)
        return "" if how.expect in line else f"it said {line!r}, expected {how.expect!r}"
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return "did not finish within 180 s"
    said = done.stdout + done.stderr
    if done.returncode != how.status:
        return f"exit status {done.returncode}, expected {how.status}:\n{said[-1500:]}"
    if how.expect not in said:
        return f"no {how.expect!r} in its output:\n{said[-1500:]}"
    return ""


@pytest.mark.slow
@pytest.mark.skipif(cannot_build_namespaces() is not None, reason=str(cannot_build_namespaces()))
def test_a_stock_aiortc_bot_passes_the_ci_recipe_from_the_wheel(built: tuple[Path, Path], tmp_path: Path) -> None:
    """issue 25's user: the wheel in a fresh venv, outside the repository; docs/ci.md's recipe as the wheel's
    own docs give it; a stock aiortc bot (tests/data/stock_bot.py: no patching, no candidates: all). It
    passes sealed, and not one packet of it leaves on the machine's interfaces; made lowercase it fails
    with the reply expected."""
    from pytest_webrtc.capture.libpcap import Pcap

    python, env = _venv(built, tmp_path)
    user = tmp_path / "project"
    user.mkdir()
    docs = run([python, "-m", "pytest_webrtc", "docs", "ci"], user, env=env)
    recipe = docs.split("## Your peer in place of Alice or Bob", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (user / "bot.py").write_text((ROOT / "tests" / "data" / "stock_bot.py").read_text())
    (user / "bot.yaml").write_text(recipe)
    up = [i for i in os.listdir("/sys/class/net") if int(Path(f"/sys/class/net/{i}/flags").read_text(), 16) & 1]
    # What another test may send meanwhile is not ours to judge here: an unsealed Chromium's name look-ups
    # (tests/peer/test_chromium.py runs one on purpose), ARP and neighbour discovery.
    others = "not port 53 and not arp and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 137)"
    watched = {i: Pcap(i, others) for i in up if i != "lo" and not i.startswith("pw")}  # the harness's veths: pw...
    try:
        passed = run([python, "-m", "pytest", "-p", "no:cacheprovider", "--webrtc-scenario", "bot.yaml"], user, env=env)
        seen: dict[str, list[str]] = {interface: [] for interface in watched}
        for interface, capture in watched.items():
            while (packet := capture.next()) is not None:
                seen[interface].append(packet[1][:64].hex())
    finally:
        for capture in watched.values():
            capture.close()
    assert "1 passed" in passed and "PASS step 6 (data, line 12): alice -> bot over 'data'" in passed, passed[-3000:]
    assert "sealed: alice, bot each in a network namespace of its own" in passed
    assert seen == {interface: [] for interface in watched}, seen
    (user / "bot.yaml").write_text(recipe.replace('bot.py"}', 'bot.py", env: {BOT_MODE: lower}}'))
    done = subprocess.run([python, "-m", "pytest", "-p", "no:cacheprovider", "bot.yaml"], cwd=user, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert (
        "bot.yaml:12:1: step 6 (data, line 12): bot replied 'hello bot' to alice's 'hello bot' on 'data'; "
        "expected the reply 'HELLO BOT'" in done.stdout
    )
