#!/usr/bin/env bash
# One-time set-up on a fresh machine (Debian/Ubuntu, Python >= 3.10): system packages the
# tests need, then this package with its test tools. Safe to run again: it only installs
# what is missing.
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages: libpcap0.8 (scapy's kernel BPF capture), coturn (interop tests and the
# STUN benchmark run coturn's server and C clients beside ours), tshark (captures are
# cross-checked with Wireshark's dissectors), chromium (a real browser as a peer; ~480 MB),
# nftables and iproute2 (NATs built in network namespaces), stun-server (stund, one of the real STUN
# servers the conformance suite is calibrated on), janus (a real media server: the WHIP calibration's
# backend and the Janus scenarios), firefox-esr and GStreamer's webrtcbin with libnice, PyGObject and
# python3-websockets for the system Python (two more stacks of the interop matrix, docs/interop.md).
# Go and Debian's Pion sources (pion/webrtc v3, ice, turn, stun): the Pion peer of the interop matrix,
# built offline below.
APT_PACKAGES=(libpcap0.8 coturn tshark chromium nftables iproute2 stun-server janus
    firefox-esr gstreamer1.0-plugins-bad gstreamer1.0-nice gstreamer1.0-plugins-good gstreamer1.0-plugins-base
    python3-gi gir1.2-gst-plugins-bad-1.0 gir1.2-gst-plugins-base-1.0 python3-websockets
    golang-go golang-github-pion-webrtc.v3-dev golang-github-pion-turn.v2-dev golang-github-pion-stun-dev
    golang-github-pion-ice.v2-dev)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif command -v sudo >/dev/null; then SUDO=(sudo); else SUDO=(); fi
    if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
        echo "setup.sh: not root and no sudo: install ${missing[*]} yourself; tests needing them will skip" >&2
    else
        echo "setup.sh: installing ${missing[*]}"
        # tshark would ask whether non-root users may capture: answer no, non-interactively.
        echo "wireshark-common wireshark-common/install-setuid boolean false" | "${SUDO[@]}" debconf-set-selections
        "${SUDO[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        # coturn's package starts a system turnserver on 3478; the harness starts its own.
        # The same for stun-server's stund (service "stun").
        for service in coturn stun janus; do
            if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
                "${SUDO[@]}" systemctl stop "$service" || true
            fi
        done
    fi
fi

# werift, a non-Python WebRTC stack from the npm registry, for the interop tests; node-turn and
# nodertc's stun, two more STUN servers the conformance suite is calibrated on.
if command -v npm >/dev/null && [ ! -d interop/werift/node_modules/werift ]; then
    (cd interop/werift && npm install --no-audit --no-fund --silent)
fi
if command -v npm >/dev/null && [ ! -d interop/stun-servers/node_modules/node-turn ]; then
    (cd interop/stun-servers && npm ci --no-audit --no-fund --silent)
fi
# simple-whip-server (a WHIP server with Janus behind it): Debian's package conflicts with the
# machine's nodejs, so its files are extracted here and its dependencies come from npm; and the
# whip-whep browser clients (interop/whip).
if command -v npm >/dev/null && [ ! -d interop/whip/node_modules/whip-whep ]; then
    (cd interop/whip && npm ci --no-audit --no-fund --silent)
fi
if [ ! -f interop/whip/simple-whip-server/usr/share/simple-whip-server/src/server.js ]; then
    workdir=$(mktemp -d)
    chmod 777 "$workdir"  # apt-get download drops privileges to _apt where it can
    if (cd "$workdir" && apt-get download -qq simple-whip-server 2>/dev/null); then
        rm -rf interop/whip/simple-whip-server
        dpkg-deb -x "$workdir"/simple-whip-server_*.deb interop/whip/simple-whip-server
        # its config.js is a symlink into /etc; the tests write their own next to a copy of the sources
        rm -f interop/whip/simple-whip-server/usr/share/simple-whip-server/src/config.js
    else
        echo "setup.sh: cannot download simple-whip-server; its calibration tests will skip" >&2
    fi
    rm -rf "$workdir"
fi
# Pion's peer (interop/pion/src/pion-peer), built offline from Debian's Go sources in GOPATH mode (a go.mod
# beside the program lets github.com/pion/webrtc/v3 resolve to Debian's folder); rebuilt when a source is
# newer than the binary. No module proxy, no network: GO111MODULE=off, GOPROXY=off.
if command -v go >/dev/null && [ -d /usr/share/gocode/src/github.com/pion/webrtc ]; then
    # our programs on Pion: the matrix's peer, and a TURN server on pion/turn (the TURN suite's calibration)
    for program in pion-peer pion-turn; do
        if [ ! -x "interop/pion/bin/$program" ] || [ -n "$(find "interop/pion/src/$program" -newer "interop/pion/bin/$program" -type f)" ]; then
            (cd interop/pion && GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH="$PWD:/usr/share/gocode" \
                GOCACHE="$PWD/.gocache" go build -o "bin/$program" "$program")
        fi
    done
    # pion/stun's own clients (real STUN clients against our server): Debian ships their sources only
    for tool in stun-client stun-nat-behaviour; do
        if [ ! -x "interop/pion/bin/$tool" ]; then
            (cd interop/pion && GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH="$PWD:/usr/share/gocode" \
                GOCACHE="$PWD/.gocache" go build -o "bin/$tool" "github.com/pion/stun/cmd/$tool")
        fi
    done
fi
# The PeerJS server (npm peer), another project's signaling the harness's peers speak.
if command -v npm >/dev/null && [ ! -d interop/signaling-servers/node_modules/peer ]; then
    (cd interop/signaling-servers && npm ci --no-audit --no-fund --silent)
fi

PYTHON=${PYTHON:-$(command -v python || command -v python3)}
"$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'

# Bytecode, written once. This machine kind sets PYTHONDONTWRITEBYTECODE=1: without this every
# process (each xdist worker, each pytester run, each peer subprocess, each CLI call) compiles the
# harness from source, and pytest — which rewrites the asserts of a plugin's whole package —
# rewrites its ~200 modules again (measured: a pytest run of four seed scenarios 1.85 s -> 1.04 s,
# its first scenario 350 -> 225 ms; importing the peer 0.50 -> 0.37 s). Both kinds of file are
# caches that Python and pytest check against each source's mtime and size.
"$PYTHON" -m compileall -q -j 0 pytest_webrtc tests bench >/dev/null
env -u PYTHONDONTWRITEBYTECODE "$PYTHON" - >/dev/null <<'PY'
import importlib
import pkgutil

import pytest


class ImportEverything:
    """Under pytest's assertion rewriter, import every module of the package once (it writes their pycs)."""

    def pytest_sessionstart(self, session):
        import pytest_webrtc

        for module in pkgutil.walk_packages(pytest_webrtc.__path__, "pytest_webrtc."):
            if not module.name.endswith("__main__"):
                try:
                    importlib.import_module(module.name)
                except Exception:  # a module for another interpreter (gst_peer: the system Python's gi)
                    pass


pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "tests"], plugins=[ImportEverything()])
PY
