// SPDX-License-Identifier: Apache-2.0
// output6.test.ts: IPv6 services in what xlvs prints: list text, top, /metrics labels, the status page's series names, trace and doctor texts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MetricsSource } from '../../src/adapters/promregistry';
import { registry } from '../../src/adapters/promregistry';
import { seriesKey } from '../../src/adapters/statushistory';
import { listText } from '../../src/cli/commands/list';
import { REAL_F_MAC, REAL_F_SCHED, SCHED } from '../../src/core/abi';
import { doctorDrPath } from '../../src/core/doctor';
import type { ServiceListing } from '../../src/core/listing';
import { frame } from '../../src/core/topview';
import { type TraceLookups, type TraceReal, type TraceService, type TraceTemplate, trace, traceText } from '../../src/core/trace';

const rate0 = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
const L: ServiceListing[] = [
  {
    vip: '2001:db8::100',
    port: 80,
    protocol: 'tcp',
    scheduler: 'wlc',
    maglevSize: 251,
    persistence: { timeout: 360, netmask: 64 },
    stats: { conns: 10, packets: 1500, bytes: 99000 },
    rate: rate0,
    reals: [
      {
        address: '2001:db8::11',
        weight: 3,
        mac: '02:00:00:00:00:11',
        schedulable: true,
        stats: { conns: 7, packets: 1000, bytes: 66000 },
        rate: rate0,
        activeConns: 4,
        inactiveConns: 9,
      },
    ],
  },
];

test('xlvs list: [v6]:port rows and "mask 64" for an IPv6 persistence prefix', () => {
  const lines = listText(L, 'plain').split('\n');
  assert.ok(
    lines.some((l) => /^TCP {2}\[2001:db8::100\]:80 +wlc \(persistent 360 mask 64\)/.test(l)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => /^ {2}-> \[2001:db8::11\]:80 +02:00:00:00:00:11/.test(l)),
    lines.join('\n'),
  );
});

test('xlvs top and the status page name an IPv6 service as serviceName does', () => {
  assert.match(frame(L, new Map(), { color: false, now: new Date(0), source: 'test' }), /TCP \[2001:db8::100\]:80/);
  assert.equal(seriesKey(L[0]!, '2001:db8::11'), 'TCP [2001:db8::100]:80 \u2192 2001:db8::11');
});

test("/metrics: local_address and remote_address as node_exporter's IPVS collector prints IPv6 (canonical, no brackets)", async () => {
  const src: MetricsSource = {
    list: () => L,
    verdicts: () =>
      ({
        pass_not_ipv4: 0n,
        pass_malformed: 0n,
        pass_fragment: 0n,
        pass_no_service: 0n,
        tx_existing: 0n,
        tx_new: 0n,
        drop_no_real: 0n,
        aborted: 0n,
        ct_evicted: 0n,
        ct_untracked: 0n,
        pass_not_for_us: 0n,
        sync_lost: 0n,
      }) as ReturnType<MetricsSource['verdicts']>,
    connTable: () => ({ entries: 0, capacity: 1024, measuredAt: 0 }),
  };
  const text = await registry(src).metrics();
  assert.match(
    text,
    /^xlvs_backend_connections_active\{vip="2001:db8::100",port="80",protocol="tcp",local_address="2001:db8::100",local_port="80",proto="TCP",real="2001:db8::11",remote_address="2001:db8::11",remote_port="80",local_mark=""\} 4$/m,
  );
});

const flow6 = { client: '2001:db8:c:0:aa::7', cport: 40000, vip: '2001:db8::100', vport: 80, proto: 6 };
const real6 = (id: number): TraceReal => ({
  id,
  address: `2001:db8::${10 + id}`,
  svcId: 1,
  flags: REAL_F_MAC | REAL_F_SCHED,
  mac: '02:00:00:00:00:01',
  weight: 1,
  uThreshold: 0,
  lThreshold: 0,
});
const svc6 = (o: Partial<TraceService> = {}): TraceService => ({
  id: 1,
  sched: SCHED.wlc,
  flags: 0,
  tblSize: 0,
  persistTimeout: 0,
  persistMask: '255.255.255.255',
  ...o,
});
function lookups6(services: Record<number, TraceService>, templates: Record<string, TraceTemplate> = {}): TraceLookups {
  return {
    conn: () => null,
    service: (vip, port) => (vip === flow6.vip ? (services[port] ?? null) : null),
    table: () => null,
    tableEntry: () => null,
    real: (id) => (id === 1 || id === 2 ? real6(id) : null),
    counts: () => ({ active: 0, inactive: 0, overloaded: 0 }),
    position: () => 0n,
    template: (caddr, svcId) => templates[`${caddr} ${svcId}`] ?? null,
    now: () => 1000,
  };
}

test('trace: [v6]:port in its text, a /64 persistence template keyed by the client network', () => {
  // An IPv6 service's mask is a prefix length (the datapath's read-back may give it as text or a number).
  const persistent = { 80: svc6({ persistTimeout: 300, persistMask: 64 as unknown as string }) };
  const t = trace(flow6, lookups6(persistent, { '2001:db8:c:: 1': { realId: 2, svcId: 1, lastSeen: 900, timeout: 300 } }));
  assert.equal(t.persistence?.client, '2001:db8:c::');
  assert.equal(t.verdict.kind === 'new' && t.verdict.by, 'persistence');
  const text = traceText(t);
  assert.match(text, /^TCP \[2001:db8:c:0:aa::7\]:40000 -> \[2001:db8::100\]:80/);
  assert.match(text, /service \[2001:db8::100\]:80\/tcp \(exact port\)/);
  assert.match(text, /template for 2001:db8:c:: \(mask 64\)/);
  const none = traceText(trace(flow6, lookups6({})));
  assert.match(none, /no service \[2001:db8::100\]:80\/tcp and no port-0 service \[2001:db8::100\]:0\/tcp/);
});

test('doctor: the DR-path check names an IPv6 service [v6]:port and suggests binding [::]', () => {
  const rst = doctorDrPath({ protocol: 'tcp', vip: '2001:db8::100', port: 80 }, '2001:db8::11', { kind: 'rst' });
  assert.equal(rst.subject, 'TCP [2001:db8::100]:80 -> 2001:db8::11');
  assert.match(rst.hint ?? '', /bind the service to \[2001:db8::100\]:80 or \[::\]:80/);
  const ok = doctorDrPath({ protocol: 'udp', vip: '2001:db8::100', port: 53 }, '2001:db8::11', { kind: 'reply' });
  assert.match(ok.detail, /a datagram to \[2001:db8::100\]:53 at 2001:db8::11's MAC was answered/);
});
