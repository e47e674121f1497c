// SPDX-License-Identifier: Apache-2.0
// samesched.test.ts: two datapaths with the same config and different histories send the same new flows to the same real MACs for mh, sh and dh (issue 17).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Datapath } from '../../src/adapters/datapath';
import { native } from '../../src/adapters/native';
import { Provisioner } from '../../src/adapters/provision';
import { type Config, parseConfig } from '../../src/core/config';
import { healthKey } from '../../src/core/plan';
import { XDP_TX } from '../../src/core/verdictmodel';
import { DIRECTOR_MAC, frame, macOf, SYN } from '../lib/packets';
import { requirePrivileges } from '../lib/privileged';

const ADDRS = Array.from({ length: 9 }, (_, i) => `10.0.0.${11 + i}`);
const macFor = (address: string) => `02:00:00:00:00:${address.split('.')[3]!.padStart(2, '0')}`;
// dh hashes the destination, so one VIP is one bucket: eight dh services make its check more than a coin toss.
const SCHEDULERS = ['mh', 'sh', 'dh', 'dh', 'dh', 'dh', 'dh', 'dh', 'dh', 'dh'] as const;
const vipOf = (i: number) => `10.0.1.${100 + i}`;

/** One service per scheduler of SCHEDULERS over the same reals (address -> weight). */
function config(reals: Record<string, number>): Config {
  const realsYaml = Object.entries(reals)
    .map(([a, w]) => `      - { address: ${a}, weight: ${w} }`)
    .join('\n');
  const svcs = SCHEDULERS.map((s, i) => `  - vip: ${vipOf(i)}\n    port: 80\n    scheduler: ${s}\n    reals:\n${realsYaml}`).join('\n');
  return parseConfig(`interface: eth0\nconn_table_size: 65536\nservices:\n${svcs}\n`);
}

const down = (cfg: Config, addrs: string[]) => new Set(addrs.flatMap((a) => cfg.services.map((s) => healthKey(s, a))));

const loaded: Datapath[] = [];
async function datapath(): Promise<Datapath> {
  const dp = await Datapath.load({ connTableSize: 65536 });
  loaded.push(dp);
  dp.setDirectorMac(DIRECTOR_MAC);
  return dp;
}

before(() => requirePrivileges('BPF same-schedule tests'));
after(() => {
  for (const dp of loaded) dp.close();
});

test('two datapaths with different histories forward 10,000 random new flows to the same reals (mh, sh, dh)', async () => {
  const final = config(Object.fromEntries(ADDRS.slice(0, 6).map((a, i) => [a, 1 + (i % 3)])));

  // A: a director started with the final config.
  const a = await datapath();
  new Provisioner(a).apply(final, macFor);

  // B: ran other weights and other reals first, lost and regained reals, then got the same config; its real ids
  // differ from A's. This is the lab case (a second director that had run other weights).
  const b = await datapath();
  const pb = new Provisioner(b);
  const other = config(Object.fromEntries(ADDRS.slice(2, 9).map((x) => [x, 4])));
  pb.apply(other, macFor);
  pb.apply(config({ ...Object.fromEntries(ADDRS.slice(0, 8).map((x) => [x, 2])) }), macFor, down(other, [ADDRS[3]!]));
  pb.apply(final, macFor, down(final, [ADDRS[1]!, ADDRS[4]!]));
  const last = pb.apply(final, macFor);
  const ida = new Provisioner(await datapath()).apply(final, macFor).services[0]!.reals.map((r) => r.id);
  assert.notDeepEqual(
    last.services[0]!.reals.map((r) => r.id),
    ida,
    'the histories gave the reals different ids',
  );

  // 10,000 new flows from random clients and ports, spread over the three services, through each datapath.
  let seed = 0x1234567;
  const rand = () => (seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0);
  const per = new Map<string, Map<string, number>>();
  let differ = 0;
  for (let i = 0; i < 10_000; i++) {
    const x = rand(),
      svc = i % 3 < 2 ? i % 3 : 2 + (rand() % 8);
    const spec = {
      saddr: `100.${64 + (x & 63)}.${(x >>> 6) & 255}.${(x >>> 14) & 255}`,
      sport: 1024 + (rand() % 60000),
      daddr: vipOf(svc),
      dport: 80,
      tcpFlags: SYN,
    };
    const [ra, rb] = await Promise.all([a, b].map((dp) => native().testRun(dp.programFd(), { data: frame(spec), repeat: 1 })));
    assert.equal(ra!.retval, XDP_TX, `flow ${i} through A`);
    assert.equal(rb!.retval, XDP_TX, `flow ${i} through B`);
    const ma = macOf(ra!.dataOut, 'dst'),
      mb = macOf(rb!.dataOut, 'dst');
    if (ma !== mb) differ++;
    const m = per.get(SCHEDULERS[svc]!) ?? new Map<string, number>();
    m.set(ma, (m.get(ma) ?? 0) + 1);
    per.set(SCHEDULERS[svc]!, m);
  }
  assert.equal(differ, 0, `${differ} of 10,000 flows went to another real on B`);
  // The flows spread over the reals, so agreeing was not agreeing on one real.
  assert.equal(per.get('mh')!.size, 6, 'mh: every real got flows');
  assert.equal(per.get('sh')!.size, 6, 'sh: every real got flows');
  assert.ok(per.get('dh')!.size >= 3, `dh: the eight VIPs went to ${per.get('dh')!.size} reals`);
});
