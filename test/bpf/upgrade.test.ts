// SPDX-License-Identifier: Apache-2.0
// upgrade.test.ts: a daemon upgraded onto pinned maps of an older build whose settings and counters were shorter keeps their values and its flows.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Datapath } from '../../src/adapters/datapath';
import { BPF_MAP_TYPE_ARRAY, native } from '../../src/adapters/native';
import { ADDED_MAPS, hasPinnedMaps, pinPaths, syncPins } from '../../src/adapters/pinned';
import * as abi from '../../src/core/abi';
import { requirePrivileges } from '../lib/privileged';

const BPF_MAP_TYPE_PERCPU_ARRAY = 6;
/** The sizes before accept_mac and pass_not_for_us were appended. */
const OLD_CFG_SIZE = 56;
const OLD_VERDICTS_SIZE = 80;

test('pinned xlvs_cfg and xlvs_verdicts of an older, shorter layout are copied into the new maps and their pins replaced', async () => {
  requirePrivileges('upgrade test');
  const bpffs = fs.mkdtempSync('/run/xlvs-upgrade-');
  execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
  const dir = path.join(bpffs, 'eth0');
  const ncpu = native().numPossibleCpus();
  let dp2: Datapath | undefined;
  try {
    const dp1 = await Datapath.load({ connTableSize: 4096 });
    dp1.setDirectorMac('02:00:00:00:00:02');
    dp1.setTimeouts({ tcp: 700, tcp_fin: 60, udp: 200 });
    const key = { saddr: abi.ipv4ToU32('198.51.100.1'), daddr: abi.ipv4ToU32('10.0.0.100'), sport: 1234, dport: 80, proto: 6 };
    dp1.conns.put(key, { real_id: 1, svc_id: 0, state: abi.CS.ESTABLISHED, flags: 0, last_seen: 1, hits: 0, hits_seen: 0 });
    dp1.pin(dir);
    const cfg1 = dp1.maps.xlvs_cfg.lookup(abi.u32Key(0))!;
    const seed = abi.cfg.decode(cfg1).ct_seed;
    dp1.release();

    // What an older build left pinned: the same settings and counters, without the fields appended since.
    const pins = pinPaths(dir);
    const oldCfg = native().BpfMap.create({ type: BPF_MAP_TYPE_ARRAY, name: 'xlvs_cfg', keySize: 4, valueSize: OLD_CFG_SIZE, maxEntries: 1 });
    oldCfg.update(abi.u32Key(0), cfg1.subarray(0, OLD_CFG_SIZE));
    const oldVd = native().BpfMap.create({ type: BPF_MAP_TYPE_PERCPU_ARRAY, name: 'xlvs_verdicts', keySize: 4, valueSize: OLD_VERDICTS_SIZE, maxEntries: 1 });
    const counts = Buffer.alloc(oldVd.valueBufSize);
    for (let c = 0; c < ncpu; c++) counts.writeBigUInt64LE(BigInt(10 + c), c * OLD_VERDICTS_SIZE + 5 * 8); // tx_new
    oldVd.update(abi.u32Key(0), counts);
    for (const [name, m] of [
      ['xlvs_cfg', oldCfg],
      ['xlvs_verdicts', oldVd],
    ] as const) {
      fs.unlinkSync(pins[name]!);
      m.pin(pins[name]!);
      m.close();
    }

    // An older build pinned no IPv6 maps: the load makes them afresh and adopts the rest.
    assert.equal(hasPinnedMaps(dir), true);
    for (const name of ADDED_MAPS) fs.unlinkSync(pins[name]!);
    assert.equal(hasPinnedMaps(dir), true, 'a pin set without the IPv6 maps is still adoptable');
    dp2 = await Datapath.load({ connTableSize: 4096, reuseFrom: dir });
    assert.equal(
      abi.cfg.decode(dp2.maps.xlvs_cfg.lookup(abi.u32Key(0))!).ct6_buckets,
      1024 / abi.CT6_WAYS,
      'the IPv6 table laid out (a quarter of 4096 entries)',
    );
    const cfg2 = abi.cfg.decode(dp2.maps.xlvs_cfg.lookup(abi.u32Key(0))!);
    assert.equal(dp2.maps.xlvs_cfg.valueSize, abi.cfg.size, 'the new layout');
    assert.equal(cfg2.ct_seed, seed, 'the table keeps its hash seed, so its flows stay where they are');
    assert.equal(cfg2.mac, '02:00:00:00:00:02');
    assert.deepEqual(cfg2.timeout, abi.cfg.decode(cfg1).timeout, 'idle timeouts kept');
    assert.deepEqual(cfg2.accept_mac, Array(abi.ACCEPT_MACS).fill('02:00:00:00:00:02'), "unused accept slots repeat the NIC's MAC");
    const vd = abi.sumPerCpu(abi.verdicts, dp2.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, ncpu);
    assert.equal(vd.tx_new, BigInt(Array.from({ length: ncpu }, (_, c) => 10 + c).reduce((a, b) => a + b, 0)), 'counters carried over, per CPU');
    assert.equal(vd.pass_not_for_us, 0n);
    assert.equal(dp2.conns.count(), 1, 'the connection table was adopted, not copied');
    syncPins(dp2.maps, dir);
    for (const name of ['xlvs_cfg', 'xlvs_verdicts', 'xlvs_conn', ...ADDED_MAPS] as const) {
      const m = native().BpfMap.openPinned(pins[name]!);
      assert.equal(m.id, dp2.maps[name].id, `${name} pinned is the one in use`);
      m.close();
    }
  } finally {
    dp2?.close();
    execFileSync('umount', [bpffs]);
    fs.rmdirSync(bpffs);
  }
});
