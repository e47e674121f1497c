// SPDX-License-Identifier: Apache-2.0
// bench.test.ts: the benchmark suite in short mode, so it cannot rot: every figure is produced and sane.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { formatReport, runBench } from '../../bench/run';
import * as abi from '../../src/core/abi';
import { requirePrivileges } from '../lib/privileged';

test('short benchmark run produces every figure', async () => {
  requirePrivileges('benchmark smoke test');
  const statsBefore = fs.readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
  const r = await runBench(true);
  const p = r.progcost;
  for (const k of [
    'bare_ns',
    'established_ns',
    'established_many_ns',
    'new_conn_ns',
    'established_sync_ns',
    'new_conn_sync_ns',
    'established6_ns',
    'new_conn6_ns',
  ] as const) {
    assert.ok(Number.isFinite(p[k]) && p[k] > 0 && p[k] < 100_000, `${k} = ${p[k]}`);
  }
  assert.ok(p.established_ns > p.bare_ns, 'the load balancer cannot be cheaper than a bare MAC swap');
  assert.deepEqual([p.sync_records, p.sync_lost], [p.repeat * p.rounds, 0], 'emission on: one record per new connection, none lost');
  assert.ok(r.sync.paced.records > 0 && r.sync.paced.lost === 0 && r.sync.drain.per_s > 0 && r.sync.insert.insert_per_s > 0, JSON.stringify(r.sync));
  assert.match(formatReport(r), /insertSynced/);
  assert.deepEqual(Object.keys(p.new_conn_by_scheduler).sort(), ['dh', 'fo', 'lc', 'mh', 'nq', 'ovf', 'rr', 'sed', 'sh', 'wlc', 'wrr']);
  for (const [k, ns] of Object.entries(p.new_conn_by_scheduler)) assert.ok(ns > p.bare_ns && ns < 100_000, `new connection with ${k}: ${ns} ns`);
  // The flow-count matrix: every case measured, all-new rows all new connections, established rows forwarded by the tables.
  const f = r.flows;
  assert.deepEqual(
    f.rows.map((x) => `${x.scheduler}${x.family}:${x.flows}${x.budget ? '+budget' : ''}`),
    ['mh4:1', 'mh4:65536', 'mh4:1000000', 'mh4:new', 'mh4:new+budget', 'mh6:1', 'mh6:65536', 'mh6:new', 'wrr4:1', 'wrr4:65536', 'wrr4:1000000', 'wrr4:new'],
  );
  for (const x of f.rows) assert.ok(x.ns > f.floor_ns && x.ns < 100_000, JSON.stringify(x));
  for (const x of f.rows) if (x.flows === 'new') assert.equal(x.off_path, 0, JSON.stringify(x));
  for (const x of f.rows) if (x.flows === 1) assert.equal(x.off_path, 0, JSON.stringify(x));
  assert.match(formatReport(r), /mh IPv4, 1,000,000 flows in turn .*issue 19 target datapath <= \+60 ns: (met|not met)/);
  // A random load in a table-sized array misses the caches on any machine: it must cost more than the same walk in L1.
  assert.equal(f.memory.table_bytes, abi.CONN_DEFAULT_MAX * abi.ctEntry.size);
  assert.ok(f.memory.cached_ns > 0 && f.memory.table_ns > 2 * f.memory.cached_ns, JSON.stringify(f.memory));
  assert.match(formatReport(r), /one random load, 128 MiB BPF array/);
  // End to end by flow count: every case came back, xlvs forwarded on its tables (all-new: never an entry found).
  const v = r.veth;
  assert.equal(fs.readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim(), statsBefore, 'kernel.bpf_stats_enabled restored');
  assert.deepEqual(
    v.rows.map((x) => `${x.flows}/${x.case}`),
    ['65536/bare', '65536/nftables', '65536/xlvs mh', '65536/xlvs wrr', 'new/bare', 'new/nftables', 'new/xlvs mh', 'new/xlvs wrr'],
  );
  for (const x of v.rows) {
    assert.ok(x.pps > 1000, `veth ${x.flows}/${x.case}: ${x.pps} frames/s came back`);
    // The in-place run (bpf_stats) timed the XDP program of every case but nftables, and left the sysctl as it found it.
    if (x.case === 'nftables') assert.equal(x.prog_ns, undefined);
    else assert.ok(x.prog_ns !== undefined && x.prog_ns > 0 && x.prog_ns < 100_000, `veth ${x.flows}/${x.case}: program ${x.prog_ns} ns/frame`);
    if (!x.case.startsWith('xlvs')) continue;
    const k = x.counters!;
    const fwd = k.tx_existing + k.tx_stateless + k.tx_new;
    assert.ok(fwd > 0 && k.other <= 0.01 * fwd, JSON.stringify(x));
    // All-new: a frame never finds an entry. Established: most find the one the pre-fill made (not all, see README).
    if (x.flows === 'new') assert.equal(k.tx_existing, 0, JSON.stringify(x));
    else assert.ok(k.tx_existing + k.tx_stateless > k.tx_new, `pre-filled flows should find their entries: ${JSON.stringify(x)}`);
  }
  assert.match(formatReport(r), /xlvs mh .*issue 19 target >= 0.85x bare: (met|not met)/);
  assert.ok(r.controlplane.maglev_65537x1000_ms > 0 && r.controlplane.apply_ms > 0);
  // The history-free table moves at least the minimum, a real down exactly it, and an edit at 10 reals within 5 %.
  const mv = r.maglev_moves;
  assert.equal(mv.rows.length, 12, 'four changes x N = 2, 10, 100');
  for (const x of mv.rows) {
    assert.ok(x.minimal > 0 && x.history_free >= x.minimal - 1e-9 && x.old_incremental >= x.minimal - 1e-9, JSON.stringify(x));
    if (x.change === 'one down') assert.ok(Math.abs(x.history_free - x.minimal) < 1e-9, JSON.stringify(x));
    if (x.reals === 10) assert.ok(x.history_free <= 1.05 * x.minimal, JSON.stringify(x));
  }
  assert.ok(mv.table_1000_edit_ms > 0 && mv.table_1000_down_ms > 0);
  assert.match(formatReport(r), /Maglev buckets moved by one change/);
  assert.ok(r.memory.bytes_per_conn > 16 && r.memory.bytes_per_conn < 1024, `bytes per connection ${r.memory.bytes_per_conn}`);
  // Half-full 8-way buckets lose about 1 % of flows to full buckets; far more would mean a broken hash or claim.
  assert.ok(
    r.memory.fill_held >= 0.95 * r.memory.fill_flows && r.memory.fill_held <= r.memory.fill_flows,
    `held ${r.memory.fill_held} of ${r.memory.fill_flows}`,
  );
  assert.match(formatReport(r), /xlvs established TCP flow/);
  assert.equal(r.health.killed, 5);
  assert.ok(r.health.checks_per_s > 0 && r.health.cpu_share_one_core > 0 && r.health.rss_mib > 0, JSON.stringify(r.health));
  assert.ok(r.health.detect_median_ms > 0 && r.health.detect_p99_ms >= r.health.detect_median_ms, JSON.stringify(r.health));
  assert.match(formatReport(r), /detection, server death/);
  assert.deepEqual(
    r.health_load.phases.map((x) => x.probes),
    ['main', 'prober'],
  );
  for (const x of r.health_load.phases) assert.ok(x.checks > 0 && x.apply_ms > 0 && x.edits_ms >= 0, JSON.stringify(x));
  assert.match(formatReport(r), /false downs, 100 concurrent edits, probes on the prober thread/);
  // Sync: every connection offered is carried (loopback multicast drops nothing unless a buffer fills) with a lag.
  assert.equal(r.sync_wire.length, 1);
  assert.ok(r.sync_wire[0]!.received > 0 && r.sync_wire[0]!.received <= r.sync_wire[0]!.connections, JSON.stringify(r.sync_wire[0]));
  assert.ok(r.sync_wire[0]!.carried_per_s > 0 && r.sync_wire[0]!.lag_p99_ms >= r.sync_wire[0]!.lag_p50_ms, JSON.stringify(r.sync_wire[0]));
  assert.match(formatReport(r), /connection sync master -> backup/);
});
