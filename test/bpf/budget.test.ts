// SPDX-License-Identifier: Apache-2.0
// budget.test.ts: the new-connection budget through BPF_PROG_TEST_RUN: past it, mh flows are forwarded unrecorded and counted
// (without reading the connection table); wrr flows still recorded.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
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

const CONFIG = mhWrrConfig(3);
const MAC = MH_WRR_MACS;

let dp: Datapath;
/** New mh flows sent in one second: 6 more than the budget of 3 on every CPU of this machine. */
const N = 3 * os.cpus().length + 6;
let services: ServiceState[];
let ncpu: number;

const verdicts = () => abi.sumPerCpu(abi.verdicts, dp.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, ncpu);
const entries = (port: number) => {
  const s = services.find((x) => x.port === port)!;
  let n = 0;
  for (const c of dp.realConns(s.reals.map((r) => r.id)).values()) n += Number(c.active) + Number(c.inactive);
  return n;
};
const run = async (f: Buffer) => {
  const out = await native().testRun(dp.programFd(), { data: f, repeat: 1 });
  assert.equal(out.retval, XDP_TX);
  return abi.bytesToMac(out.dataOut.subarray(0, 6));
};

/** Waits for the datapath's clock (CLOCK_MONOTONIC_COARSE seconds, as now_seconds()) to start a second: the budget is per second. */
async function freshSecond(): Promise<void> {
  const now = () => abi.monoSeconds(process.hrtime.bigint());
  const s = now();
  while (now() === s) await new Promise((r) => setTimeout(r, 2));
  await new Promise((r) => setTimeout(r, 20)); // the coarse clock ticks up to a few ms behind
}

before(async () => {
  requirePrivileges('BPF new-connection budget tests');
  ncpu = native().numPossibleCpus();
  const cfg = parseConfig(CONFIG);
  dp = await Datapath.load({ connTableSize: cfg.conn_table_size });
  dp.setDirectorMac(DIRECTOR_MAC);
  ({ services } = new Provisioner(dp).apply(cfg, (a) => MAC[a] ?? null));
  dp.setNewConnBudget(cfg.new_conn_budget); // what the controller does with the config's new_conn_budget
});

after(() => dp?.close());

test('past the budget in a second, new mh flows are forwarded by the hash but not recorded (ct_over_budget); wrr flows are always recorded', async () => {
  await freshSecond();
  const v0 = verdicts();
  const e80 = entries(80);
  const macs: string[] = [];
  for (let i = 0; i < N; i++) macs.push(await run(frame({ saddr: `203.0.113.${10 + i}`, sport: 40000 + i, dport: 80, tcpFlags: SYN })));
  let v1 = verdicts();
  assert.equal(v1.tx_new - v0.tx_new, BigInt(N), 'all forwarded as new');
  // The budget is per CPU, and each test run goes on whichever CPU this thread is on: at most 3 recorded per CPU.
  const over = Number(v1.ct_over_budget - v0.ct_over_budget);
  const recorded = entries(80) - e80;
  assert.equal(over + recorded, N, `${recorded} recorded + ${over} over budget`);
  assert.ok(recorded >= 3 && recorded <= 3 * os.cpus().length && over >= 6, `${recorded} recorded: 3 per CPU that ran them`);
  // An unrecorded (or recorded) flow's next packet is placed by the hash again: the same real.
  const again = await run(frame({ saddr: `203.0.113.${10 + N - 1}`, sport: 40000 + N - 1, dport: 80, tcpFlags: ACK }));
  assert.equal(again, macs[N - 1], 'the flow stays on its real');
  v1 = verdicts();
  const e81 = entries(81);
  for (let i = 0; i < 4; i++) await run(frame({ saddr: `203.0.113.${40 + i}`, sport: 41000 + i, dport: 81, tcpFlags: SYN }));
  const v2 = verdicts();
  assert.equal(entries(81) - e81, 4, 'wrr flows recorded past the budget');
  assert.equal(v2.ct_over_budget, v1.ct_over_budget, 'and not counted over budget');
  assert.equal(v2.tx_new - v1.tx_new, 4n);
});

test('a budget of 0 records every flow', async () => {
  dp.setNewConnBudget(0);
  try {
    const v0 = verdicts();
    const e80 = entries(80);
    for (let i = 0; i < 8; i++) await run(frame({ saddr: `198.51.100.${10 + i}`, sport: 42000 + i, dport: 80, tcpFlags: SYN }));
    assert.equal(verdicts().ct_over_budget, v0.ct_over_budget);
    assert.equal(entries(80) - e80, 8);
  } finally {
    dp.setNewConnBudget(3);
  }
});

/** The mh service's live Maglev table as stored (owner and marks per bucket, a stride of 8 bytes), and a writer for it. */
function tableOf(port: number): { read(): Uint32Array; write(words: Uint32Array): void } {
  const id = services.find((x) => x.port === port)!.id;
  const open = () => native().BpfMap.fromId(dp.maps.xlvs_tbl.lookup(abi.u32Key(id))!.readUInt32LE(0));
  return {
    read() {
      const m = open();
      try {
        const raw = m.readMmap(0, m.maxEntries * 8);
        return Uint32Array.from({ length: m.maxEntries }, (_, i) => raw.readUInt32LE(i * 8));
      } finally {
        m.close();
      }
    },
    write(words) {
      const m = open();
      try {
        m.storeMmapU32(Buffer.from(Uint32Array.from(words.keys()).buffer), Buffer.from(words.buffer));
      } finally {
        m.close();
      }
    },
  };
}

test('past the budget a new mh flow goes to its bucket owner without reading the connection table; a MOVED bucket still reads it', async () => {
  // Every test run on one CPU, so that its budget is the one spent (the budget is per CPU).
  const pin = (cpus: string) => execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
  const all = `0-${os.cpus().length - 1}`;
  pin('0');
  const saddr = '192.0.2.77',
    sport = 43000;
  const key: abi.ConnKey = { saddr: abi.ipv4ToU32(saddr), daddr: abi.ipv4ToU32('10.0.0.100'), sport, dport: 80, proto: 6 };
  const table = tableOf(80);
  const words = table.read();
  try {
    // The flow's owner: where an ACK without an entry goes (the stateless path).
    const v0 = verdicts();
    const owner = await run(frame({ saddr, sport, dport: 80, tcpFlags: ACK }));
    assert.equal(verdicts().tx_stateless - v0.tx_stateless, 1n);
    // An entry naming another real in the unmarked bucket: only a read of the table can find it.
    const svc = services.find((x) => x.port === 80)!;
    const other = svc.reals.find((r) => MAC[r.address] !== owner)!;
    dp.conns.put(key, { real_id: other.id, svc_id: svc.id, state: abi.CS.ESTABLISHED, flags: 0, last_seen: 1, hits: 0, hits_seen: 0 });
    dp.setNewConnBudget(0);
    assert.equal(await run(frame({ saddr, sport, dport: 80, tcpFlags: SYN })), MAC[other.address], 'without a budget the SYN reads its entry');
    const hits = dp.conns.get(key)!.hits;
    dp.setNewConnBudget(3);

    await freshSecond();
    for (let i = 0; i < 3; i++) await run(frame({ saddr: `192.0.2.${100 + i}`, sport: 44000 + i, dport: 80, tcpFlags: SYN }));
    const v1 = verdicts();
    assert.equal(await run(frame({ saddr, sport, dport: 80, tcpFlags: SYN })), owner, 'past the budget: the owner, the entry unread');
    const v2 = verdicts();
    assert.equal(v2.ct_over_budget - v1.ct_over_budget, 1n);
    assert.equal(v2.tx_new - v1.tx_new, 1n, 'counted as a new connection');
    assert.equal(dp.conns.get(key)!.hits, hits, 'the entry untouched');
    // The same bucket marked MOVED (every bucket here): the SYN takes the connection table and finds the entry.
    table.write(words.map((w) => (w | abi.TBL_MOVED) >>> 0));
    assert.equal(await run(frame({ saddr, sport, dport: 80, tcpFlags: SYN })), MAC[other.address], 'a MOVED bucket: the entry read');
    assert.equal(verdicts().ct_over_budget, v2.ct_over_budget, 'an entry followed is no new connection');
  } finally {
    table.write(words);
    dp.conns.delete(key);
    dp.setNewConnBudget(3);
    pin(all);
  }
});
