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
# servers the conformance suite is calibrated on).
APT_PACKAGES=(libpcap0.8 coturn tshark chromium nftables iproute2 stun-server)

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
        for service in coturn stun; do
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
# The PeerJS server (npm peer), another project's signaling the harness's peers speak.
if command -v npm >/dev/null && [ ! -d interop/signaling-servers/node_modules/peer ]; then
    (cd interop/signaling-servers && npm ci --no-audit --no-fund --silent)
fi

PYTHON=${PYTHON:-$(command -v python || command -v python3)}
"$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'
