// SPDX-License-Identifier: Apache-2.0
// fullbucket.test.ts: a connection-table bucket of 8 live entries (BPF_PROG_TEST_RUN): a new mh flow goes unrecorded, a wrr flow replaces one.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Datapath } from '../../src/adapters/datapath';
import { native } from '../../src/adapters/native';
import { Provisioner } from '../../src/adapters/provision';
import * as abi from '../../src/core/abi';
import { parseConfig } from '../../src/core/config';
import type { ServiceState } from '../../src/core/director';
import { XDP_TX } from '../../src/core/verdictmodel';
import { MH_WRR_MACS, mhWrrConfig } from '../lib/mhwrr';
import { ACK, DIRECTOR_MAC, frame, SYN } from '../lib/packets';
import { requirePrivileges } from '../lib/privileged';

const CONFIG = mhWrrConfig(0);
const MAC = MH_WRR_MACS;

let dp: Datapath;
let services: ServiceState[];
after(() => dp?.close());

before(async () => {
  requirePrivileges('BPF full-bucket tests');
  const cfg = parseConfig(CONFIG);
  dp = await Datapath.load({ connTableSize: cfg.conn_table_size });
  dp.setDirectorMac(DIRECTOR_MAC);
  ({ services } = new Provisioner(dp).apply(cfg, (a) => MAC[a] ?? null));
});

const verdicts = () => abi.sumPerCpu(abi.verdicts, dp.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, native().numPossibleCpus());

interface Flow {
  saddr: string;
  sport: number;
  dport: number;
}
const keyOf = (f: Flow): abi.ConnKey => ({ saddr: abi.ipv4ToU32(f.saddr), daddr: abi.ipv4ToU32('10.0.0.100'), sport: f.sport, dport: f.dport, proto: 6 });

/** n flows to dport whose entries fall in bucket (the datapath's seeded hash, as user space computes it). */
function flowsIn(bucket: number, dport: number, n: number, net = '198.51.100'): Flow[] {
  const out: Flow[] = [];
  for (let i = 0; out.length < n; i++) {
    const f = { saddr: `${net}.${1 + Math.floor(i / 60000)}`, sport: 1024 + (i % 60000), dport };
    if (dp.conns.bucketOf(keyOf(f)) === bucket) out.push(f);
  }
  return out;
}

/** Connections the service's reals hold (active + inactive), as the datapath counts them. */
function counted(port: number): bigint {
  const s = services.find((x) => x.port === port)!;
  let n = 0n;
  for (const c of dp.realConns(s.reals.map((r) => r.id)).values()) n += c.active + c.inactive;
  return n;
}

async function send(f: Flow, tcpFlags: number): Promise<string> {
  const out = await native().testRun(dp.programFd(), { data: frame({ ...f, tcpFlags }), repeat: 1 });
  assert.equal(out.retval, XDP_TX);
  return abi.bytesToMac(out.dataOut.subarray(0, 6));
}

test('a new mh flow into a bucket of 8 live connections goes unrecorded to its owner, replacing none; a wrr flow replaces one', async () => {
  const bucket = dp.conns.bucketOf(keyOf({ saddr: '198.51.100.1', sport: 1024, dport: 80 }));
  const mh = flowsIn(bucket, 80, 10);
  const [wrr] = flowsIn(bucket, 81, 1);
  const live = mh.slice(0, 8);
  for (const f of live) await send(f, SYN);
  const held = () => live.filter((f) => dp.conns.get(keyOf(f)) !== null).length;
  assert.equal(held(), 8, 'the bucket is full');

  // The flood's case: a SYN of a new client whose bucket is full.
  let v0 = verdicts();
  const mac = await send(mh[8]!, SYN);
  let v1 = verdicts();
  assert.equal(v1.tx_new - v0.tx_new, 1n, 'forwarded as a new connection');
  assert.equal(v1.ct_untracked - v0.ct_untracked, 1n, 'unrecorded, and counted');
  assert.equal(v1.ct_evicted - v0.ct_evicted, 0n, 'no live entry replaced');
  assert.equal(held(), 8, 'every live connection keeps its entry');
  assert.equal(dp.conns.get(keyOf(mh[8]!)), null);
  assert.ok(Object.values(MAC).includes(mac));
  assert.equal(await send(mh[8]!, ACK), mac, 'its next packet goes to the same real (the hash places it)');
  assert.equal(await send(mh[8]!, ACK), mac);

  // A wrr flow without an entry would be scheduled again, maybe elsewhere: it still takes a way.
  v0 = verdicts();
  await send(wrr!, SYN);
  v1 = verdicts();
  assert.equal(v1.ct_evicted - v0.ct_evicted, 1n, 'the wrr flow replaced a live entry');
  assert.ok(dp.conns.get(keyOf(wrr!)), 'and is recorded');
  assert.equal(held(), 7);

  // An entry past its idle timeout (not yet swept) is no live connection: a new mh flow takes its way.
  const now = Number((await dp.sweep()).now);
  const old = live.find((f) => dp.conns.get(keyOf(f)) !== null)!;
  dp.conns.put(keyOf(old), { ...dp.conns.get(keyOf(old))!, last_seen: now - 100_000 });
  v0 = verdicts();
  await send(mh[9]!, SYN);
  v1 = verdicts();
  assert.equal(v1.ct_untracked - v0.ct_untracked, 0n);
  assert.equal(v1.ct_evicted - v0.ct_evicted, 0n, 'an expired entry taken is no eviction');
  assert.ok(dp.conns.get(keyOf(mh[9]!)), 'recorded in the expired way');
  assert.equal(dp.conns.get(keyOf(old)), null);
});

test('a new wrr flow into a full bucket replaces the entry nearest its timeout, uncounting it; an expired one goes first', async () => {
  const bucket = dp.conns.bucketOf(keyOf({ saddr: '203.0.113.1', sport: 1024, dport: 81 }));
  // An earlier test's flows may share the bucket: freed (counts are compared as differences).
  for (const r of [...dp.conns.records()]) if (r.bucket === bucket) dp.conns.delete(r.key);
  const flows = flowsIn(bucket, 81, 10, '203.0.113');
  const before = counted(81);
  for (const f of flows.slice(0, 8)) await send(f, SYN);
  assert.equal(counted(81) - before, 8n);
  // Way ages: the fourth flow was seen longest ago (still within its timeout).
  const now = Number((await dp.sweep()).now);
  flows.slice(0, 8).forEach((f, i) => dp.conns.put(keyOf(f), { ...dp.conns.get(keyOf(f))!, last_seen: now - (i === 3 ? 40 : 10) }));
  let v0 = verdicts();
  await send(flows[8]!, SYN);
  assert.equal(dp.conns.get(keyOf(flows[3]!)), null, 'the oldest entry was replaced');
  assert.ok(dp.conns.get(keyOf(flows[8]!)));
  for (const i of [0, 1, 2, 4, 5, 6, 7]) assert.ok(dp.conns.get(keyOf(flows[i]!)), `flow ${i} kept`);
  assert.equal(verdicts().ct_evicted - v0.ct_evicted, 1n);
  assert.equal(counted(81) - before, 8n, 'one uncounted, one counted');
  // An entry past its timeout (not yet swept) is taken before any live one and is not an eviction.
  dp.conns.put(keyOf(flows[5]!), { ...dp.conns.get(keyOf(flows[5]!))!, last_seen: now - 100_000 });
  v0 = verdicts();
  await send(flows[9]!, SYN);
  assert.equal(dp.conns.get(keyOf(flows[5]!)), null);
  assert.ok(dp.conns.get(keyOf(flows[9]!)));
  assert.equal(verdicts().ct_evicted - v0.ct_evicted, 0n);
  assert.equal(counted(81) - before, 8n);
});
