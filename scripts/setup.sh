#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# setup.sh: installs whatever is missing on a fresh Debian 12 host (apt packages, npm packages) and builds xlvs; quiet and fast when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# keepalived: test/e2e/vrrp.test.ts runs its own instances in the lab's namespaces; the Debian unit starts nothing
# without /etc/keepalived/keepalived.conf (ConditionFileNotEmpty), so installing it leaves the host alone.
pkgs=(clang llvm libbpf-dev bpftool linux-libc-dev iproute2 ethtool nftables tcpdump iputils-ping iputils-arping make g++ python3 chromium curl openssl
  python3-seccomp clang-format clang-tidy keepalived bird2 man-db groff-base)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}) and not root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The package enables a system-wide bird on the host's own tables; the lab runs its own per namespace (-c, -s), so
  # one installed here just now is stopped and disabled (a bird that was there before is left alone).
  if [[ " ${missing[*]} " == *" bird2 "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now bird.service >/dev/null 2>&1 || true
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

bash scripts/build.sh
