// SPDX-License-Identifier: Apache-2.0
// sweep.test.ts: the idle sweeper's pass over a connection table larger than one run's chunk, through BPF_PROG_TEST_RUN.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Datapath } from '../../src/adapters/datapath';
import * as abi from '../../src/core/abi';
import { requirePrivileges } from '../lib/privileged';

test('a pass is several runs of XLVS_SWEEP_CHUNK buckets: entries in every chunk are counted and expired once, and the pass ends where it began', async () => {
  requirePrivileges('BPF sweeper tests');
  const dp = await Datapath.load({ connTableSize: abi.SWEEP_CHUNK * abi.CT_WAYS * 5 });
  try {
    // A growable table's pass walks its live buckets: four chunks once grown to 65,536 (the map holds five).
    await dp.walks.resize(4 * abi.SWEEP_CHUNK);
    assert.deepEqual(dp.walks.resizer.geo(), { live: 4 * abi.SWEEP_CHUNK, prev: 0 });
    // Two entries in each of three chunks' range of buckets: one idle past its timeout, one live.
    const put: abi.ConnKey[] = [];
    const chunkOf = (k: abi.ConnKey) => Math.floor(dp.conns.bucketOf(k) / abi.SWEEP_CHUNK);
    for (let sport = 1; put.length < 6; sport++) {
      const key = { saddr: abi.ipv4ToU32('198.51.100.1'), daddr: abi.ipv4ToU32('10.0.0.100'), sport, dport: 80, proto: 6 };
      const chunk = chunkOf(key);
      if (chunk < 3 && put.filter((k) => chunkOf(k) === chunk).length < 2) put.push(key);
    }
    const now = Number((await dp.sweep()).now);
    put.forEach((key, i) =>
      dp.conns.put(key, { real_id: 1, svc_id: 0, state: abi.CS.ESTABLISHED, flags: 0, last_seen: i % 2 ? now : now - 1000, hits: 0, hits_seen: 0 }),
    );
    const before = abi.sweepStats.decode(dp.maps.xlvs_sweepst.lookup(abi.u32Key(0))!);
    dp.setTimeouts({ tcp: 900, tcp_fin: 120, udp: 300 });
    const st = await dp.sweep();
    assert.equal(st.cursor, 0n);
    assert.equal(st.runs - before.runs, 1n, 'one complete pass');
    assert.equal(st.expired - before.expired, 3n, 'the idle entry of each chunk');
    assert.equal(st.conns, 3n, 'the live entry of each chunk, counted once');
    assert.equal(dp.conns.count(), 3);
  } finally {
    dp.close();
  }
});
