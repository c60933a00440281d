"""Network namespaces: create, link, configure, enter (per thread), and remove.

Everything is done with ``ip`` and ``nft`` from iproute2 and nftables, as root.  Links are
created directly inside their namespaces, so no interface ever appears in the machine's own
namespace; namespace names carry a per-process prefix so parallel tests never collide.
:func:`entered` switches only the calling thread (``setns(2)``): a socket created there belongs to
that namespace and can then be used from any thread, which is how the tests, the STUN server and
the discovery client reach into a topology without a subprocess.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import itertools
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from ..errors import HarnessConfigError

__all__ = [
    "PREFIX",
    "Namespace",
    "cannot_build_namespaces",
    "entered",
    "Built",
    "free_subnet",
    "machine_link",
    "in_thread",
    "leftover_namespaces",
    "remove_orphans",
    "run",
]

PREFIX = "pwrtc-"  # every namespace this project creates starts with it
_CLONE_NEWNET = 0x40000000
_counter = itertools.count(1)
_subnets = itertools.count(1)
_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")
B = TypeVar("B", bound="Built")


def run(*command: str, namespace: str | None = None, stdin: str | None = None, timeout: float = 10.0) -> str:
    """Run a command (inside ``namespace`` if given); its stdout, or HarnessConfigError with stderr."""
    argv = ["ip", "netns", "exec", namespace, *command] if namespace else list(command)
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise HarnessConfigError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def cannot_build_namespaces() -> str | None:
    """Why this machine cannot build NAT topologies (None when it can): root, ip, nft."""
    if os.geteuid() != 0:
        return "network namespaces and nftables need root"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"{tool!r} is not installed (Debian: iproute2, nftables)"
    return None


def leftover_namespaces() -> list[str]:
    """Namespaces of this project that still exist (any process)."""
    return sorted(line.split()[0] for line in run("ip", "netns", "list").splitlines() if line.startswith(PREFIX))


def remove_orphans() -> list[str]:
    """Delete this project's namespaces whose creating process is gone (killed, not cleaned up);
    returns their names.  Namespaces of live processes (parallel test workers) are left alone."""
    removed = []
    for name in leftover_namespaces():
        pid = name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            delete_all([name])
            removed.append(name)
    with contextlib.suppress(OSError):  # the resolver folders of namespaces already gone
        for name in os.listdir(NETNS_ETC):
            pid = name[len(PREFIX) :].split("-", 1)[0]
            if name.startswith(PREFIX) and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                shutil.rmtree(os.path.join(NETNS_ETC, name), ignore_errors=True)
    return removed


NETNS_ETC = "/etc/netns"  # ``ip netns exec NAME`` bind-mounts NETNS_ETC/NAME/* over /etc/*
# The resolver of every program the harness starts in its namespaces (a browser, Janus, coturn): one
# that is not there, so a lookup fails at once instead of after the machine's resolver's timeout.
SEALED_RESOLV = (
    "# pytest-webrtc: no resolver inside the harness's namespaces\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
)


class Namespace:
    """One network namespace with ``lo`` up and no resolver; ``delete()`` removes it with every link inside."""

    def __init__(self, role: str) -> None:
        self.name = f"{PREFIX}{os.getpid()}-{next(_counter)}-{role}"
        run("ip", "netns", "add", self.name)
        self.sh("ip", "link", "set", "lo", "up")
        _seal_resolver(self.name)

    def sh(self, *command: str, stdin: str | None = None) -> str:
        return run(*command, namespace=self.name, stdin=stdin)

    def link(self, other: Namespace, name: str, other_name: str) -> None:
        """A veth pair: ``name`` here, ``other_name`` in ``other`` (created in place, both up)."""
        run("ip", "link", "add", name, "netns", self.name, "type", "veth", "peer", other_name, "netns", other.name)
        self.sh("ip", "link", "set", name, "up")
        other.sh("ip", "link", "set", other_name, "up")

    def address(self, interface: str, cidr: str) -> None:
        self.sh("ip", "addr", "add", cidr, "dev", interface)

    def route(self, destination: str, via: str) -> None:
        self.sh("ip", "route", "add", destination, "via", via)

    def forwarding(self) -> None:
        self.sh("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")

    def nft(self, ruleset: str) -> None:
        self.sh("nft", "-f", "-", stdin=ruleset)

    def delete(self) -> None:
        with contextlib.suppress(HarnessConfigError):
            run("ip", "netns", "delete", self.name)
        shutil.rmtree(os.path.join(NETNS_ETC, self.name), ignore_errors=True)


@contextlib.contextmanager
def entered(namespace: str) -> Iterator[None]:
    """Inside the block, the calling thread is in ``namespace`` (sockets it creates belong there).

    Use it in a thread of its own, or at least leave it before doing anything else: the previous
    namespace is restored on exit."""
    previous = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{namespace}", os.O_RDONLY)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            raise HarnessConfigError(f"cannot enter network namespace {namespace}: errno {ctypes.get_errno()}")
        try:
            yield
        finally:
            _libc.setns(previous, _CLONE_NEWNET)
    finally:
        os.close(target)
        os.close(previous)


def in_thread(namespace: str, function: Callable[..., T], *args: Any) -> T:
    """Call ``function(*args)`` in a fresh thread that has entered ``namespace``; its result."""
    box: list[T] = []
    errors: list[BaseException] = []

    def body() -> None:
        try:
            with entered(namespace):
                box.append(function(*args))
        except BaseException as exc:  # handed to the caller
            errors.append(exc)

    thread = threading.Thread(target=body, name=f"netns-{namespace}")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return box[0]


def free_subnet() -> int:
    """A /30 of 198.18.0.0/16 no address of the machine's namespace is in (pid-seeded; 198.19/16 is the
    contained decoy's)."""
    used = {
        int(ipaddress.ip_address(word.split("/")[0])) >> 2
        for word in run("ip", "-o", "-4", "addr", "show").split()
        if word[:1].isdigit() and "/" in word
    }
    base = int(ipaddress.ip_address("198.18.0.0")) >> 2
    start = (os.getpid() * 131 + next(_subnets)) % 16384
    for step in range(16384):
        index = base + (start + step) % 16384
        if index not in used:
            return index << 2
    raise RuntimeError("no free /30 in 198.18.0.0/16")


def machine_link(namespace: Namespace, inside: str, machine_cidr: str, tag: str) -> str:
    """A veth from the machine's namespace (``machine_cidr`` on its end) to ``inside`` in ``namespace``.

    Its end here is named after this process (``pw<pid><tag><n>``); deleting ``namespace`` removes
    both ends.  Returns that name."""
    outside = f"pw{os.getpid() % 10**6}{tag}{next(_subnets)}"
    run("ip", "link", "add", outside, "type", "veth", "peer", inside, "netns", namespace.name)
    run("ip", "addr", "add", machine_cidr, "dev", outside)
    run("ip", "link", "set", outside, "up")
    namespace.sh("ip", "link", "set", inside, "up")
    return outside


class Built:
    """Something built on ``__enter__`` and torn down on ``__exit__`` — also when the build fails half-way."""

    def build(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: B) -> B:
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def delete_all(names: Sequence[str]) -> None:
    for name in names:
        with contextlib.suppress(HarnessConfigError):
            run("ip", "netns", "delete", name)
        shutil.rmtree(os.path.join(NETNS_ETC, name), ignore_errors=True)


def _seal_resolver(name: str) -> None:
    folder = os.path.join(NETNS_ETC, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "resolv.conf"), "w") as out:
        out.write(SEALED_RESOLV)
