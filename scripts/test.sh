#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test.sh: runs every test (unit, ABI, host kernel, BPF packet fixtures, end-to-end namespace network); privileged suites fail, not skip, without root and BPF.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
# Where the tests run, before they run: the kernel, its features and each program's verifier cost, so a kernel
# change shows in the log before it shows as failures. Informational: test/bpf/verifier.test.ts enforces the budget.
# Formatting and lint first: a minute, and a failure there is cheaper to read than one in the suites.
bash scripts/lint.sh
echo "== $(uname -srm)"
if [ "$(id -u)" -eq 0 ]; then bin/xlvs kernel || true; fi
files=(dist/test/unit/*.test.js dist/test/host/*.test.js dist/test/bpf/*.test.js dist/test/e2e/*.test.js dist/test/bench/*.test.js)
# One file at a time: the BPF and namespace suites share the kernel and must not race each other.
exec node --test --test-concurrency=1 "${files[@]}"
