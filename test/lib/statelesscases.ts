// SPDX-License-Identifier: Apache-2.0
// statelesscases.ts: the stateless path's activity-bit cases, written once for both families (stateless.test.ts, stateless6.test.ts).

import assert from 'node:assert/strict';
import type { Datapath } from '../../src/adapters/datapath';
import { native, type TestRunResult } from '../../src/adapters/native';
import * as abi from '../../src/core/abi';
import { XDP_TX } from '../../src/core/verdictmodel';
import { verdictsOf } from './ctflows';

/** One family's flows of one mh service, as the cases drive them (a flow is its client port). */
export interface StatelessFamily {
  dp: Datapath;
  /** A frame of the flow with these TCP flags through the datapath. */
  run(sport: number, tcpFlags: number): Promise<TestRunResult>;
  /** The flow's connection-table entry, or null. */
  entry(sport: number): abi.Conn | null;
  put(sport: number, val: abi.Conn): void;
  macOfReal(id: number): string;
}

const SYN = 0x02;
const ACK = 0x10;

const verdicts = verdictsOf;

/** Opens a connection (SYN), returning its entry's real. */
export async function openFlow(f: StatelessFamily, sport: number): Promise<number> {
  const r = await f.run(sport, SYN);
  assert.equal(r.retval, XDP_TX);
  return f.entry(sport)!.real_id;
}

/** An established ACK goes to the bucket owner without touching its entry; the sweeper promotes SYN_RECV from its bit, and only then. */
export async function promotedByBit(f: StatelessFamily, sport: number): Promise<void> {
  const real = await openFlow(f, sport);
  const before = verdicts(f.dp);
  const r = await f.run(sport, ACK);
  assert.equal(r.retval, XDP_TX);
  assert.equal(abi.bytesToMac(r.dataOut.subarray(0, 6)), f.macOfReal(real));
  const v = verdicts(f.dp);
  assert.equal(v.tx_stateless - before.tx_stateless, 1n);
  assert.equal(v.tx_existing - before.tx_existing, 0n);
  const e = f.entry(sport)!;
  assert.equal(e.hits, 0, 'the entry was not touched');
  assert.equal(e.state, abi.CS.SYN_RECV);
  const rc = () => abi.realConns.decode(f.dp.maps.xlvs_rconn.lookup(abi.u32Key(real))!);
  const rc0 = rc();
  await f.dp.sweep();
  assert.equal(f.entry(sport)!.state, abi.CS.ESTABLISHED, 'the ACK the stateless path saw');
  const rc1 = rc();
  assert.equal(rc1.active - rc0.active, 1n);
  assert.equal(rc1.inactive - rc0.inactive, -1n);
  // No bit set since: a SYN_RECV entry stays so.
  await openFlow(f, sport + 1);
  await f.dp.sweep();
  assert.equal(f.entry(sport + 1)!.state, abi.CS.SYN_RECV);
}

/** The sweeper keeps an established entry alive on its bit past its idle timeout, and expires the one without. */
export async function keptAliveByBit(f: StatelessFamily, sport: number): Promise<void> {
  const now = Number((await f.dp.sweep()).now);
  const sports = [sport, sport + 1];
  for (const p of sports) {
    await openFlow(f, p);
    await f.run(p, ACK);
  }
  await f.dp.sweep(); // established from their bits; the bits cleared
  for (const p of sports) {
    const e = f.entry(p)!;
    assert.equal(e.state, abi.CS.ESTABLISHED);
    f.put(p, { ...e, last_seen: now - 1000 });
  }
  f.dp.setTimeouts({ tcp: 900, tcp_fin: 120, udp: 300 });
  const v0 = verdicts(f.dp);
  await f.run(sport, ACK); // only the first sends
  assert.equal(verdicts(f.dp).tx_stateless - v0.tx_stateless, 1n);
  await f.dp.sweep();
  assert.ok(f.entry(sport), 'kept by its bit');
  assert.ok(Number(f.entry(sport)!.last_seen) >= now);
  assert.equal(f.entry(sport + 1), null, 'idle past its timeout: expired');
}

/** A service's live schedule table, marks included (read through its mmap). */
export function liveTableOf(dp: Datapath, svcId: number): Uint32Array {
  const m = native().BpfMap.fromId(dp.maps.xlvs_tbl.lookup(abi.u32Key(svcId))!.readUInt32LE(0));
  try {
    const raw = m.readMmap(0, m.maxEntries * 8);
    return Uint32Array.from({ length: m.maxEntries }, (_, i) => raw.readUInt32LE(i * 8));
  } finally {
    m.close();
  }
}
