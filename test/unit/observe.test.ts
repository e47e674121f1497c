// observe.test.ts: trace's decisions over fake maps, top's frame and sparkline, the metrics registry and status JSON, the metrics.listen key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REAL_F_MAC, REAL_F_SCHED, REAL_NONE } from '../../src/core/abi';
import { parseConfig } from '../../src/core/config';
import { UsageError } from '../../src/core/errors';
import type { ServiceListing } from '../../src/core/controller';
import { flowHash } from '../../src/core/flowhash';
import { TraceLookups, TraceReal, trace, traceText } from '../../src/core/trace';
import { HISTORY, History, frame, record, sparkline } from '../../src/core/topview';
import { MetricsSource, cachedCount, registry, statusJson } from '../../src/adapters/metrics';

const flow = { client: '203.0.113.10', cport: 40000, vip: '10.0.0.100', vport: 80, proto: 6 };
const up = (id: number, svcId = 1): TraceReal => ({ id, address: `10.0.0.${10 + id}`, svcId, flags: REAL_F_MAC | REAL_F_SCHED, mac: '02:00:00:00:00:01' });

function lookups(o: { conn?: { realId: number; svcId: number }; reals?: TraceReal[]; table?: number[] | null; svc?: boolean }): TraceLookups {
  const reals = new Map((o.reals ?? [up(1), up(2)]).map((r) => [r.id, r]));
  return {
    conn: () => o.conn ?? null,
    service: () => (o.svc === false ? null : { id: 1, mhSize: 7 }),
    bucket: (_s, b) => (o.table === null ? null : (o.table ?? [1, 2, 1, 2, 1, 2, 1])[b]!),
    real: (id) => reals.get(id) ?? null,
  };
}

test('trace: a connection-table entry whose real is usable wins, with no bucket consulted', () => {
  const t = trace(flow, { ...lookups({ conn: { realId: 2, svcId: 1 } }), bucket: () => assert.fail('bucket read') });
  assert.equal(t.verdict.kind, 'existing');
  assert.equal(t.verdict.kind === 'existing' && t.verdict.real.id, 2);
  assert.match(traceText(t), /real 10\.0\.0\.12 \(existing connection\)[\s\S]*persistence: not implemented/);
});

test('trace: an entry whose real lost its MAC or moved to another service is rescheduled like the datapath does', () => {
  const h = flowHash(flow.client, flow.vip, flow.cport, flow.vport, 6);
  const table = [1, 2, 1, 2, 1, 2, 1];
  for (const bad of [{ ...up(2), flags: REAL_F_SCHED }, up(2, 9)]) {
    const t = trace(flow, lookups({ conn: { realId: 2, svcId: 1 }, reals: [up(1), bad], table }));
    assert.equal(t.verdict.kind === 'new' || t.verdict.kind === 'drop' ? t.verdict.bucket : -1, h % 7);
    assert.match(t.verdict.reason.join('\n'), /rescheduled/);
  }
});

test('trace: a new flow goes to the owner of bucket flowHash % mh_size', () => {
  const h = flowHash(flow.client, flow.vip, flow.cport, flow.vport, 6);
  const table = [1, 2, 1, 2, 2, 1, 2];
  const t = trace(flow, lookups({ table }));
  assert.ok(t.verdict.kind === 'new');
  assert.equal(t.verdict.bucket, h % 7);
  assert.equal(t.verdict.real.id, table[h % 7]);
  assert.match(traceText(t), new RegExp(`bucket ${h % 7} is owned by real id`));
});

test('trace: an empty bucket, an unschedulable owner or a missing table is a drop; no service passes', () => {
  assert.equal(trace(flow, lookups({ table: new Array(7).fill(REAL_NONE) })).verdict.kind, 'drop');
  assert.equal(trace(flow, lookups({ reals: [{ ...up(1), flags: REAL_F_MAC }, { ...up(2), flags: REAL_F_MAC }] })).verdict.kind, 'drop');
  assert.equal(trace(flow, lookups({ table: null })).verdict.kind, 'drop');
  const t = trace(flow, lookups({ svc: false }));
  assert.equal(t.verdict.kind, 'no-service');
  assert.match(traceText(t), /passed to the kernel/);
});

const listing = (inpps: number, mac: string | null = 'aa:bb:cc:dd:ee:ff'): ServiceListing[] => [{
  vip: '10.0.0.100', port: 80, protocol: 'tcp', scheduler: 'mh', maglevSize: 251,
  stats: { conns: 10, packets: 1500, bytes: 99000 }, rate: { cps: 1, inpps, outpps: 0, inbps: inpps * 60, outbps: 0 },
  reals: [
    { address: '10.0.0.11', weight: 3, mac, schedulable: !!mac, stats: { conns: 7, packets: 1000, bytes: 66000 }, rate: { cps: 1, inpps, outpps: 0, inbps: 60, outbps: 0 }, activeConns: null, inactiveConns: null },
    { address: '10.0.0.12', weight: 0, mac: '11:22:33:44:55:66', schedulable: false, stats: { conns: 3, packets: 500, bytes: 33000 }, rate: { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 } },
  ],
}];

test('top: sparkline scales to its peak; history is bounded and forgets removed reals', () => {
  assert.equal(sparkline([0, 0, 0]), '▁▁▁');
  assert.equal(sparkline([0, 4, 8]), '▁▅█');
  assert.equal(sparkline([0, 8], true), '_#');
  const h: History = new Map();
  for (let i = 0; i < HISTORY + 5; i++) record(h, listing(i));
  assert.equal(h.get('10.0.0.100:80/tcp 10.0.0.11')!.length, HISTORY);
  record(h, []);
  assert.equal(h.size, 0);
});

test('top: a frame shows services, reals, weights, health and rates; colour only when asked', () => {
  const h: History = new Map();
  record(h, listing(5));
  record(h, listing(50));
  const plain = frame(listing(50), h, { color: false, now: new Date(0), source: 'sock' });
  assert.doesNotMatch(plain, /\x1b/);
  assert.match(plain, /TCP 10\.0\.0\.100:80/);
  assert.match(plain, /-> 10\.0\.0\.11\s+3\s+up\s+1\s+50\s+60\s+7\s+1\.0K\s+▂█/);
  assert.match(plain, /-> 10\.0\.0\.12\s+0\s+drained/);
  assert.match(frame(listing(0, null), h, { color: false, now: new Date(0), source: 's' }), /10\.0\.0\.11\s+3\s+no-mac/);
  assert.match(frame(listing(1), h, { color: true, now: new Date(0), source: 's' }), /\x1b\[31m/);
  assert.match(frame([], new Map(), { color: false, now: new Date(0), source: 's' }), /no services configured/);
});

const source = (l: ServiceListing[]): MetricsSource => ({
  list: () => l,
  verdicts: () => ({ pass_not_ipv4: 1n, pass_malformed: 0n, pass_fragment: 0n, pass_no_service: 2n, tx_existing: 1490n, tx_new: 10n, drop_no_real: 3n, aborted: 0n }),
  connTable: () => ({ entries: 10, capacity: 1024, measuredAt: 5 }),
});

test('metrics: node_exporter-style names, base units, _total counters, labels per service and real', async () => {
  const text = await registry(source(listing(5))).metrics();
  const has = (line: string) => assert.ok(text.split('\n').includes(line), `missing ${line}\n${text}`);
  has('# TYPE xlvs_incoming_packets_total counter');
  has('xlvs_incoming_packets_total{vip="10.0.0.100",port="80",protocol="tcp"} 1500');
  has('xlvs_incoming_bytes_total{vip="10.0.0.100",port="80",protocol="tcp"} 99000');
  has('xlvs_connections_total{vip="10.0.0.100",port="80",protocol="tcp"} 10');
  has('xlvs_backend_packets_total{vip="10.0.0.100",port="80",protocol="tcp",real="10.0.0.11"} 1000');
  has('xlvs_backend_connections_total{vip="10.0.0.100",port="80",protocol="tcp",real="10.0.0.12"} 3');
  has('xlvs_backend_weight{vip="10.0.0.100",port="80",protocol="tcp",real="10.0.0.11"} 3');
  has('xlvs_backend_up{vip="10.0.0.100",port="80",protocol="tcp",real="10.0.0.12"} 0');
  has('xlvs_backend_mac_resolved{vip="10.0.0.100",port="80",protocol="tcp",real="10.0.0.12"} 1');
  has('xlvs_datapath_packets_total{verdict="drop_no_real"} 3');
  has('xlvs_conn_table_entries 10');
  has('xlvs_conn_table_capacity 1024');
  assert.doesNotMatch(text, /^xlvs_backend_connections_active\{/m, 'no invented active counts');
  // A real that goes away takes its series with it (counters are re-read, not accumulated).
  const l = listing(5);
  const src = source(l);
  const reg = registry(src);
  await reg.metrics();
  l[0]!.reals.pop();
  assert.doesNotMatch(await reg.metrics(), /real="10\.0\.0\.12"/);
});

test('metrics: health and ARP-guard gauges from whatever the daemon knows; top shows a failed check as down', async () => {
  const l = listing(5);
  l[0]!.reals[0]!.health = 'down';
  l[0]!.reals[1]!.health = 'unchecked';
  l[0]!.arpClaims = [{ mac: '02:00:00:00:00:99', real: null, since: 0 }];
  const text = await registry(source(l)).metrics();
  assert.match(text, /^xlvs_backend_healthy\{vip="10\.0\.0\.100",port="80",protocol="tcp",real="10\.0\.0\.11"\} 0$/m);
  assert.doesNotMatch(text, /^xlvs_backend_healthy\{.*real="10\.0\.0\.12"/m, 'unchecked: no sample');
  assert.match(text, /^xlvs_arp_guard_claims\{vip="10\.0\.0\.100"\} 1$/m);
  assert.match(frame(l, new Map(), { color: false, now: new Date(0), source: 's' }), /10\.0\.0\.11\s+3\s+down/);
});

test('status JSON: listing, verdicts as numbers, table occupancy and the notes on what is not tracked', () => {
  const j = statusJson(source(listing(5)), 42);
  assert.equal(j.time, 42);
  assert.equal(j.verdicts.tx_new, 10);
  assert.deepEqual(j.connTable, { entries: 10, capacity: 1024, measuredAt: 5 });
  assert.match(j.notes.join(), /active\/inactive connections: not tracked yet/);
});

test('cachedCount walks at most once per interval', () => {
  let walks = 0;
  let t = 0;
  const c = cachedCount(() => ++walks, 5000, () => t);
  c();
  t = 4999;
  assert.equal(c().entries, 1);
  t = 5000;
  assert.equal(c().entries, 2);
});

test('config: metrics.listen defaults to loopback, takes HOST:PORT or off, and names the field when malformed', () => {
  assert.equal(parseConfig('interface: eth0\n').metrics.listen, '127.0.0.1:9258');
  assert.equal(parseConfig('interface: eth0\nmetrics: { listen: "0.0.0.0:9100" }\n').metrics.listen, '0.0.0.0:9100');
  assert.equal(parseConfig('interface: eth0\nmetrics: { listen: "off" }\n').metrics.listen, 'off');
  for (const bad of ['localhost:9258', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '1.2.3:80']) {
    assert.throws(() => parseConfig(`interface: eth0\nmetrics: { listen: "${bad}" }\n`), (e: unknown) => e instanceof UsageError && e.details.some((d) => d.startsWith(`metrics.listen: "${bad}" is not HOST:PORT`)), bad);
  }
  assert.throws(() => parseConfig('interface: eth0\nmetrics: { port: 1 }\n'), (e: unknown) => e instanceof UsageError && e.details.includes('metrics.port: unknown key'));
});
