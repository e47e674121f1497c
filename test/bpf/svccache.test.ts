// SPDX-License-Identifier: Apache-2.0
// svccache.test.ts: the forwarding path's per-CPU service cache (xlvs_svcc): trusted within a generation, never past a service write.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Datapath } from '../../src/adapters/datapath';
import { native } from '../../src/adapters/native';
import { Provisioner } from '../../src/adapters/provision';
import * as abi from '../../src/core/abi';
import { parseConfig } from '../../src/core/config';
import type { ServiceState } from '../../src/core/director';
import { XDP_PASS, XDP_TX } from '../../src/core/verdictmodel';
import { ACK, DIRECTOR_MAC, frame, macOf, SYN } from '../lib/packets';
import { requirePrivileges } from '../lib/privileged';

const MACS: Record<string, string> = {
  '10.0.0.11': '02:00:00:00:00:11',
  '10.0.0.12': '02:00:00:00:00:12',
  '10.0.0.13': '02:00:00:00:00:13',
};
// Port 0 (every port) needs persistence, as in ipvsadm.
const svcYaml = (port: number, real: string) =>
  `  - vip: 10.0.0.100\n    port: ${port}\n    protocol: tcp\n    maglev_size: 251\n` +
  (port ? '' : '    persistence: { timeout: 60 }\n') +
  `    reals:\n      - { address: ${real}, weight: 1 }\n`;
/** Services by port: each with one real, so where a packet goes names the service that took it. */
const config = (svcs: [number, string][]) =>
  `interface: eth0\nconn_table_size: 65536\nservices:${svcs.length ? '\n' : ' []\n'}${svcs.map(([p, r]) => svcYaml(p, r)).join('')}`;

let dp: Datapath;
let prov: Provisioner;
let services: ServiceState[];
let sport = 42000;

before(async () => {
  requirePrivileges('BPF service-cache tests');
  dp = await Datapath.load({ connTableSize: 65536 });
  dp.setDirectorMac(DIRECTOR_MAC);
  prov = new Provisioner(dp);
});

after(() => dp?.close());

function apply(svcs: [number, string][]): void {
  services = prov.apply(parseConfig(config(svcs)), (a) => MACS[a] ?? null).services;
}

/**
 * A fresh flow to dport: where its SYN goes (new_connection(), the plain lookup), then where an ACK of another fresh
 * flow goes (the stateless path first, through the cache; a miss there falls through to new_connection()).
 */
async function send(dport: number): Promise<{ syn: string; ack: string }> {
  const out = async (tcpFlags: number) => {
    const r = await native().testRun(dp.programFd(), { data: frame({ saddr: '198.51.100.7', sport: sport++, dport, tcpFlags }), repeat: 1 });
    return r.retval === XDP_TX ? macOf(r.dataOut, 'dst') : r.retval === XDP_PASS ? 'pass' : `retval ${r.retval}`;
  };
  return { syn: await out(SYN), ack: await out(ACK) };
}
const to = (real: string) => ({ syn: MACS[real]!, ack: MACS[real]! });
const passed = { syn: 'pass', ack: 'pass' };

test('every service write is seen by the next packet: added, port 0 behind an exact port, removed, none', async () => {
  apply([[80, '10.0.0.11']]);
  assert.deepEqual(await send(80), to('10.0.0.11'));
  assert.deepEqual(await send(81), passed, 'no service: the miss is cached too');
  apply([
    [80, '10.0.0.11'],
    [0, '10.0.0.12'],
  ]);
  assert.deepEqual(await send(81), to('10.0.0.12'), 'the cached miss went with the write');
  apply([
    [80, '10.0.0.11'],
    [0, '10.0.0.12'],
    [81, '10.0.0.13'],
  ]);
  assert.deepEqual(await send(81), to('10.0.0.13'), 'the exact port now takes what port 0 took');
  assert.deepEqual(await send(80), to('10.0.0.11'));
  apply([
    [80, '10.0.0.11'],
    [0, '10.0.0.12'],
  ]);
  assert.deepEqual(await send(81), to('10.0.0.12'), 'back to port 0');
  apply([]);
  assert.deepEqual(await send(80), passed);
  assert.deepEqual(await send(81), passed);
});

test('a service changed in place is seen by the next packet: persistence on, every flow of a client follows its template', async () => {
  const yaml = (persist: boolean) =>
    'interface: eth0\nconn_table_size: 65536\nservices:\n  - vip: 10.0.0.100\n    port: 80\n    protocol: tcp\n    maglev_size: 251\n' +
    (persist ? '    persistence: { timeout: 60 }\n' : '') +
    '    reals:\n      - { address: 10.0.0.11, weight: 1 }\n      - { address: 10.0.0.12, weight: 1 }\n';
  prov.apply(parseConfig(yaml(false)), (a) => MACS[a] ?? null);
  const acks = async () => {
    const out: string[] = [];
    for (let i = 0; i < 24; i++) {
      const r = await native().testRun(dp.programFd(), { data: frame({ saddr: '198.51.100.8', sport: sport++, dport: 80, tcpFlags: ACK }), repeat: 1 });
      assert.equal(r.retval, XDP_TX);
      out.push(macOf(r.dataOut, 'dst'));
    }
    return new Set(out);
  };
  assert.equal((await acks()).size, 2, 'without persistence the flows spread over both reals (each to its bucket owner)');
  prov.apply(parseConfig(yaml(true)), (a) => MACS[a] ?? null);
  assert.equal((await acks()).size, 1, "with it, the service's new value in the cache: one template, one real");
});

test('a slot of the current generation is what the packet follows, and a service write retires it', async () => {
  apply([
    [80, '10.0.0.11'],
    [81, '10.0.0.13'],
  ]);
  assert.deepEqual(await send(80), to('10.0.0.11'));
  const m = dp.objectMap('xlvs_svcc');
  try {
    const ncpu = native().numPossibleCpus();
    const stride = m.valueBufSize / ncpu;
    const gen = abi.cfg.decode(dp.maps.xlvs_cfg.lookup(abi.u32Key(0))!).svc_gen;
    const key80 = abi.svcKey.encode({ vip: abi.ipv4ToU32('10.0.0.100'), port: 80, proto: 6 });
    // The packets filled port 80's slot on the CPU they ran on, with this generation and a copy of its service.
    let slotOf80 = -1;
    for (let i = 0; i < abi.SVCC_SLOTS && slotOf80 < 0; i++) {
      const v = m.lookup(abi.u32Key(i))!;
      for (let c = 0; c < ncpu; c++) {
        const s = abi.svcCache.decode(v.subarray(c * stride, c * stride + abi.svcCache.size));
        if (s.gen === gen && s.key.equals(key80)) {
          assert.equal(s.found, 1);
          assert.equal(abi.svc.decode(s.svc).id, services.find((x) => x.port === 80)!.id);
          slotOf80 = i;
        }
      }
    }
    assert.ok(slotOf80 >= 0, `a slot holds port 80 under generation ${gen}`);
    // Forged on every CPU: port 80's key, this generation, port 81's service. The packet follows the slot...
    const svc81 = dp.maps.xlvs_svc.lookup(abi.svcKey.encode({ vip: abi.ipv4ToU32('10.0.0.100'), port: 81, proto: 6 }))!;
    const forged = Buffer.alloc(m.valueBufSize);
    for (let c = 0; c < ncpu; c++) abi.svcCache.encode({ key: key80, gen, found: 1, svc: svc81 }, forged, c * stride);
    m.update(abi.u32Key(slotOf80), forged);
    assert.deepEqual(await send(80), { syn: MACS['10.0.0.11'], ack: MACS['10.0.0.13'] }, "the stateless path's hit reads the slot; a SYN, xlvs_svc");
    // ...until a service is written: any write moves the generation on, and the slot is refilled from xlvs_svc.
    apply([
      [80, '10.0.0.11'],
      [81, '10.0.0.13'],
      [82, '10.0.0.12'],
    ]);
    assert.notEqual(abi.cfg.decode(dp.maps.xlvs_cfg.lookup(abi.u32Key(0))!).svc_gen, gen);
    assert.deepEqual(await send(80), to('10.0.0.11'));
  } finally {
    m.close();
  }
});

test('a load adopting pinned maps moves the generation on from the pinned one: never back to a value slots may hold', async () => {
  // The replaced program reads the adopted xlvs_cfg until the new one is attached, with its own slots.
  const bpffs = fs.mkdtempSync('/run/xlvs-svcc-');
  execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
  const dir = path.join(bpffs, 'eth0');
  let dp1: Datapath | undefined;
  let dp2: Datapath | undefined;
  try {
    dp1 = await Datapath.load({ connTableSize: 4096 });
    assert.equal(abi.cfg.decode(dp1.maps.xlvs_cfg.lookup(abi.u32Key(0))!).svc_gen, 1, 'a new cfg starts at 1');
    new Provisioner(dp1).apply(parseConfig(config([[80, '10.0.0.11']])), (a) => MACS[a] ?? null);
    const gen = abi.cfg.decode(dp1.maps.xlvs_cfg.lookup(abi.u32Key(0))!).svc_gen;
    assert.ok(gen > 1, `the service write moved it on (${gen})`);
    dp1.pin(dir);
    dp1.release();
    dp1 = undefined;
    dp2 = await Datapath.load({ connTableSize: 4096, reuseFrom: dir });
    assert.equal(abi.cfg.decode(dp2.maps.xlvs_cfg.lookup(abi.u32Key(0))!).svc_gen, gen + 1);
  } finally {
    dp1?.close();
    dp2?.close();
    execFileSync('umount', [bpffs]);
    fs.rmdirSync(bpffs);
  }
});
