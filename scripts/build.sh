#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build.sh: compiles the XDP objects, the native addon and the TypeScript, each only when its inputs changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/Release/xlvs_native.node ] || [ -n "$(find native binding.gyp -newer build/Release/xlvs_native.node | head -n1)" ]; then
  npx --no-install node-gyp rebuild --loglevel=error >/dev/null
fi
# after node-gyp: its rebuild empties build/
arch_inc="/usr/include/$(uname -m)-linux-gnu"
mkdir -p build/bpf
for src in bpf/*.bpf.c; do
  obj="build/bpf/$(basename "${src%.bpf.c}").o"
  if [ ! -f "$obj" ] || [ -n "$(find bpf -newer "$obj" -name '*.[ch]' | head -n1)" ]; then
    clang -O2 -g -Wall -Werror -target bpf -mcpu=v3 -I"$arch_inc" -Ibpf/include -c "$src" -o "$obj"
  fi
done
# The benchmark's fresh-flow variants of the datapath and of its MAC-swap floor (see bpf/bench_flow.h).
for pair in xlvs:xlvs_bench_fresh bench_macswap:bench_macswap_fresh; do
  src="bpf/${pair%%:*}.bpf.c" obj="build/bpf/${pair##*:}.o"
  if [ ! -f "$obj" ] || [ -n "$(find bpf -newer "$obj" -name '*.[ch]' | head -n1)" ]; then
    clang -O2 -g -Wall -Werror -target bpf -mcpu=v3 -I"$arch_inc" -Ibpf/include -DXLVS_BENCH_FRESH_FLOWS -c "$src" -o "$obj"
  fi
done
npx --no-install tsc -p tsconfig.json
node dist/scripts/man.js
