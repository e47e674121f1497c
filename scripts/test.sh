#!/usr/bin/env bash
# test.sh: runs every test (unit, ABI, BPF packet fixtures, end-to-end namespace network); privileged suites fail, not skip, without root and BPF.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
files=(dist/test/unit/*.test.js dist/test/bpf/*.test.js dist/test/e2e/*.test.js dist/test/bench/*.test.js)
# One file at a time: the BPF and namespace suites share the kernel and must not race each other.
exec node --test --test-concurrency=1 "${files[@]}"
