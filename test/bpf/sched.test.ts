// SPDX-License-Identifier: Apache-2.0
// sched.test.ts: every scheduler's choices in the XDP program against the TypeScript reference models, plus connection states, thresholds, persistence, port-0 services and the idle sweeper, through BPF_PROG_TEST_RUN.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Datapath } from '../../src/adapters/datapath';
import { native } from '../../src/adapters/native';
import { Provisioner, type Resolve } from '../../src/adapters/provision';
import * as abi from '../../src/core/abi';
import { type Config, parseConfig, type RealConfig } from '../../src/core/config';
import type { ServiceState } from '../../src/core/director';
import { type CountsSchedulerName, pickByCounts, pickHashed, type SchedReal, schedHash, wrrSequence } from '../../src/core/sched';
import { XDP_DROP, XDP_PASS, XDP_TX } from '../../src/core/verdictmodel';
import { ACK, DIRECTOR_MAC, FIN, type FrameSpec, frame, macOf, RST, SYN } from '../lib/packets';
import { requirePrivileges } from '../lib/privileged';

const REALS = ['10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.14'];
const macFor = (address: string) => `02:00:00:00:00:${address.split('.')[3]!.padStart(2, '0')}`;

interface Lab {
  dp: Datapath;
  prov: Provisioner;
  cfg: Config;
  /** The last plan's services (ids, MACs) and tables. */
  services: ServiceState[];
  tables: Map<number, Uint32Array>;
}

let lab: Lab | undefined;
let flow = 0;

/** Loads a fresh datapath with the config's services, every real resolved to 02:..:<last octet>. */
async function load(yaml: string): Promise<Lab> {
  const cfg = parseConfig(`interface: eth0\nconn_table_size: 65536\n${yaml}`);
  const dp = await Datapath.load({ connTableSize: cfg.conn_table_size });
  dp.setDirectorMac(DIRECTOR_MAC);
  const prov = new Provisioner(dp);
  const { services, tables } = prov.apply(cfg, macFor);
  lab = { dp, prov, cfg, services, tables };
  return lab;
}

/** Applies a changed config (or changed MACs) as the daemon would: only the differences, in its batches. */
function reapply(l: Lab, cfg: Config, resolve: Resolve = macFor): void {
  ({ services: l.services, tables: l.tables } = l.prov.apply(cfg, resolve));
  l.cfg = cfg;
}

/** The config with one real of the first service edited. */
function editReal(cfg: Config, address: string, patch: Partial<RealConfig>): Config {
  const next = structuredClone(cfg);
  Object.assign(next.services[0]!.reals.find((r) => r.address === address)!, patch);
  return next;
}

afterEach(() => {
  lab?.dp.close();
  lab = undefined;
});

before(() => requirePrivileges('BPF scheduler tests'));
after(() => lab?.dp.close());

async function send(dp: Datapath, spec: FrameSpec): Promise<{ retval: number; mac: string }> {
  const r = await native().testRun(dp.programFd(), { data: frame(spec), repeat: 1 });
  return { retval: r.retval, mac: macOf(r.dataOut, 'dst') };
}

/** A new connection from a client never seen before; returns the address of the real it went to (or null when not sent). */
async function newConn(l: Lab, extra: FrameSpec = {}): Promise<string | null> {
  flow++;
  const r = await send(l.dp, { saddr: `198.18.${(flow >> 8) & 255}.${flow & 255}`, sport: 10000 + (flow % 50000), tcpFlags: SYN, ...extra });
  if (r.retval !== XDP_TX) return null;
  return addressOfMac(l, r.mac);
}

function addressOfMac(l: Lab, mac: string): string {
  for (const s of l.services) for (const r of s.reals) if (r.mac === mac) return r.address;
  throw new Error(`no real has MAC ${mac}`);
}

/** Sets the idle timeout of every connection state directly (the config knows only tcp, tcp_fin and udp). */
function setStateTimeouts(l: Lab, timeout: number[]): void {
  const cur = abi.cfg.decode(l.dp.maps.xlvs_cfg.lookup(abi.u32Key(0))!);
  l.dp.maps.xlvs_cfg.update(abi.u32Key(0), abi.cfg.encode({ ...cur, timeout }));
}

function idOf(l: Lab, address: string, svc = 0): number {
  return l.services[svc]!.reals.find((r) => r.address === address)!.id;
}

function conns(l: Lab, address: string, svc = 0): abi.RealConns {
  return abi.realConns.decode(l.dp.maps.xlvs_rconn.lookup(abi.u32Key(idOf(l, address, svc)))!);
}

function setConns(l: Lab, id: number, active: number, inactive: number, overloaded = 0): void {
  l.dp.maps.xlvs_rconn.update(abi.u32Key(id), abi.realConns.encode({ active: BigInt(active), inactive: BigInt(inactive), overloaded }));
}

const realsYaml = (weights: number[], extra = (_i: number) => '') =>
  weights.map((w, i) => `      - { address: ${REALS[i]}, weight: ${w}${extra(i)} }`).join('\n');

describe('sequence schedulers', () => {
  test("wrr 4:3:2 gives IPVS's exact sequence, twice over", async () => {
    const l = await load(`services:\n  - vip: 10.0.0.100\n    port: 80\n    scheduler: wrr\n    reals:\n${realsYaml([4, 3, 2])}\n`);
    const want = wrrSequence([4, 3, 2]).seq.map((i) => REALS[i]);
    assert.deepEqual(want, ['10.0.0.11', '10.0.0.11', '10.0.0.12', '10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.11', '10.0.0.12', '10.0.0.13']);
    const got: (string | null)[] = [];
    for (let i = 0; i < 18; i++) got.push(await newConn(l));
    assert.deepEqual(got, [...want, ...want]);
  });

  test('rr skips a weight-0 real and a real without a MAC; a retransmitted SYN does not advance it', async () => {
    const l = await load(`services:\n  - vip: 10.0.0.100\n    port: 80\n    scheduler: rr\n    reals:\n${realsYaml([1, 0, 1, 1])}\n`);
    // 10.0.0.14's neighbour entry goes: the control plane rebuilds the cycle without it.
    reapply(l, l.cfg, (a) => (a === '10.0.0.14' ? null : macFor(a)));
    const got: (string | null)[] = [];
    for (let i = 0; i < 4; i++) got.push(await newConn(l));
    assert.deepEqual(got, ['10.0.0.11', '10.0.0.13', '10.0.0.11', '10.0.0.13']);
    const spec = { saddr: '198.51.100.1', sport: 4242, tcpFlags: SYN };
    const first = addressOfMac(l, (await send(l.dp, spec)).mac);
    assert.equal(addressOfMac(l, (await send(l.dp, spec)).mac), first, 'retransmission');
    assert.equal(await newConn(l), first === '10.0.0.11' ? '10.0.0.13' : '10.0.0.11');
  });
});

describe('connection-count schedulers follow the reference model', () => {
  for (const name of ['lc', 'wlc', 'sed', 'nq', 'fo', 'ovf'] as CountsSchedulerName[]) {
    test(`${name}: 150 random states of 4 reals (weights 1, 3, 0, 2; one with an upper threshold)`, async () => {
      const weights = [1, 3, 0, 2];
      const l = await load(
        `services:\n  - vip: 10.0.0.100\n    port: 80\n    scheduler: ${name}\n    reals:\n${realsYaml(weights, (i) => (i === 3 ? ', upper_threshold: 50' : ''))}\n`,
      );
      let seed = 12345;
      const rnd = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
      for (let trial = 0; trial < 150; trial++) {
        const model: SchedReal[] = l.services[0]!.reals.map((r, i) => {
          const active = rnd(8) === 0 ? 0 : rnd(30),
            inactive = rnd(40);
          const overloaded = i === 3 && rnd(4) === 0;
          setConns(l, r.id, active, inactive, overloaded ? 50 : 0);
          return { id: r.id, weight: weights[i]!, active, inactive, overloaded };
        });
        const want = pickByCounts(name, model);
        const got = await newConn(l);
        assert.equal(got, want < 0 ? null : REALS[want], `trial ${trial}: ${JSON.stringify(model.map((m) => [m.weight, m.active, m.inactive, m.overloaded]))}`);
      }
    });
  }
});

describe('hash schedulers follow the reference model', () => {
  const cases: { name: 'sh' | 'dh' | 'mh'; flags: string[] }[] = [
    { name: 'mh', flags: ['mh-port'] },
    { name: 'mh', flags: [] },
    { name: 'sh', flags: [] },
    { name: 'sh', flags: ['sh-port'] },
    { name: 'dh', flags: [] },
  ];
  for (const c of cases) {
    test(`${c.name} [${c.flags.join(',')}]: 300 flows land on their table owner`, async () => {
      const l = await load(
        `services:\n  - vip: 10.0.0.100\n    port: 80\n    scheduler: ${c.name}\n    sched_flags: [${c.flags.join(', ')}]\n    maglev_size: 251\n    reals:\n${realsYaml([1, 2, 1, 3])}\n`,
      );
      const table = l.tables.get(0)!;
      const seen = new Set<string>();
      for (let i = 0; i < 300; i++) {
        const t = { saddr: `198.19.${i % 7}.${i % 250}`, daddr: '10.0.0.100', sport: 1024 + i * 7, dport: 80, proto: 6 };
        const r = await send(l.dp, { ...t, tcpFlags: SYN });
        const want = pickHashed(table, schedHash(c.name, { port: c.flags.length > 0 }, t), () => true, false);
        assert.equal(addressOfMac(l, r.mac), REALS[l.services[0]!.reals.findIndex((x) => x.id === want)], `flow ${i}`);
        seen.add(r.mac);
      }
      assert.equal(seen.size, c.name === 'dh' ? 1 : 4, 'spread');
    });
  }

  test("mh-fallback hands an overloaded owner's flows to the next available bucket; without it they are dropped", async () => {
    for (const fallback of [true, false]) {
      const l = await load(
        `services:\n  - vip: 10.0.0.100\n    port: 80\n    scheduler: mh\n    sched_flags: [mh-port${fallback ? ', mh-fallback' : ''}]\n    maglev_size: 251\n    reals:\n${realsYaml([1, 1, 1], (i) => (i === 0 ? ', upper_threshold: 10' : ''))}\n`,
      );
      const over = idOf(l, '10.0.0.11');
      setConns(l, over, 10, 0, 10);
      const table = l.tables.get(0)!;
      for (let i = 0; i < 100; i++) {
        const t = { saddr: `198.20.0.${i}`, daddr: '10.0.0.100', sport: 2000 + i, dport: 80, proto: 6 };
        const r = await send(l.dp, { ...t, tcpFlags: SYN });
        const want = pickHashed(table, schedHash('mh', { port: true }, t), (id) => id !== over, fallback);
        if (want === null) assert.equal(r.retval, XDP_DROP, `flow ${i}`);
        else assert.equal(addressOfMac(l, r.mac), REALS[l.services[0]!.reals.findIndex((x) => x.id === want)], `flow ${i}`);
      }
      l.dp.close();
      lab = undefined;
    }
  });
});

describe('connection states and counts', () => {
  test('SYN inactive, ACK active, FIN inactive again; the sweeper expires it and uncounts it', async () => {
    const l = await load(`services:\n  - vip: 10.0.0.100\n    port: 80\n    scheduler: rr\n    reals:\n${realsYaml([1])}\n`);
    const spec = { saddr: '198.51.100.7', sport: 5555 };
    const c = () => {
      const x = conns(l, '10.0.0.11');
      return [Number(x.active), Number(x.inactive)];
    };
    const key = { saddr: abi.ipv4ToU32(spec.saddr), daddr: abi.ipv4ToU32('10.0.0.100'), sport: 5555, dport: 80, proto: 6 };
    const state = () => l.dp.conns.get(key)!.state;
    await send(l.dp, { ...spec, tcpFlags: SYN });
    assert.deepEqual([c(), state()], [[0, 1], abi.CS.SYN_RECV]);
    await send(l.dp, { ...spec, tcpFlags: SYN });
    assert.deepEqual([c(), state()], [[0, 1], abi.CS.SYN_RECV], 'retransmitted SYN');
    await send(l.dp, { ...spec, tcpFlags: ACK });
    assert.deepEqual([c(), state()], [[1, 0], abi.CS.ESTABLISHED]);
    for (let i = 0; i < 5; i++) await send(l.dp, { ...spec, tcpFlags: ACK });
    assert.deepEqual([c(), state()], [[1, 0], abi.CS.ESTABLISHED]);
    await send(l.dp, { ...spec, tcpFlags: ACK | FIN });
    assert.deepEqual([c(), state()], [[0, 1], abi.CS.FIN_WAIT]);
    await send(l.dp, { ...spec, tcpFlags: ACK });
    assert.deepEqual([c(), state()], [[0, 1], abi.CS.FIN_WAIT], "ACK of the server's FIN");
    // A second connection reset at once: CLOSE.
    await send(l.dp, { ...spec, sport: 5556, tcpFlags: SYN });
    await send(l.dp, { ...spec, sport: 5556, tcpFlags: RST });
    assert.deepEqual(c(), [0, 2]);
    // Zero timeouts: the next sweep expires both and gives the counts back.
    setStateTimeouts(l, new Array(abi.CS_COUNT).fill(0));
    const st = await l.dp.sweep();
    assert.equal(st.conns, 0n, 'nothing left');
    assert.equal(st.expired, 2n);
    assert.deepEqual(c(), [0, 0]);
    assert.equal(l.dp.conns.get(key), null);
  });

  test('the sweeper keeps a flow that keeps sending and expires an idle one', async () => {
    const l = await load(`timeouts: { tcp: 3 }\nservices:\n  - vip: 10.0.0.100\n    port: 80\n    scheduler: wlc\n    reals:\n${realsYaml([1])}\n`);
    const busy = { saddr: '198.51.100.8', sport: 6000, tcpFlags: ACK };
    const idle = { saddr: '198.51.100.9', sport: 6001, tcpFlags: ACK };
    await send(l.dp, busy);
    await send(l.dp, idle);
    assert.deepEqual([Number(conns(l, '10.0.0.11').active)], [2]);
    await new Promise((r) => setTimeout(r, 2100));
    for (let i = 0; i < 3; i++) await send(l.dp, busy);
    await l.dp.sweep();
    await new Promise((r) => setTimeout(r, 1200));
    const st = await l.dp.sweep();
    assert.equal(st.expired, 1n, 'only the idle flow expired');
    const key = (s: FrameSpec) => ({ saddr: abi.ipv4ToU32(s.saddr!), daddr: abi.ipv4ToU32('10.0.0.100'), sport: s.sport!, dport: 80, proto: 6 });
    assert.ok(l.dp.conns.get(key(busy)));
    assert.equal(l.dp.conns.get(key(idle)), null);
    assert.equal(Number(conns(l, '10.0.0.11').active), 1);
  });
});

test('an entry stamped a second after the sweeper read its clock is not expired (signed idle time)', async () => {
  const l = await load(`services:\n  - vip: 10.0.0.100\n    port: 80\n    scheduler: rr\n    persistence: { timeout: 60 }\n    reals:\n${realsYaml([1])}\n`);
  const now = Number((await l.dp.sweep()).now);
  const svcId = l.services[0]!.id;
  const key = { saddr: abi.ipv4ToU32('198.51.100.99'), daddr: abi.ipv4ToU32('10.0.0.100'), sport: 9999, dport: 80, proto: 6 };
  l.dp.conns.put(key, { real_id: idOf(l, '10.0.0.11'), svc_id: svcId, state: abi.CS.ESTABLISHED, flags: 0, last_seen: now + 1, hits: 0, hits_seen: 0 });
  const pkey = abi.persistKey.encode({ caddr: abi.ipv4ToU32('198.51.100.99'), svc_id: svcId });
  l.dp.maps.xlvs_persist.update(pkey, abi.persist.encode({ real_id: idOf(l, '10.0.0.11'), svc_id: svcId, last_seen: now + 1, timeout: 60 }));
  const st = await l.dp.sweep();
  assert.equal(st.expired, 0n);
  assert.equal(st.templates_expired, 0n);
  assert.ok(l.dp.conns.get(key));
  assert.ok(l.dp.maps.xlvs_persist.lookup(pkey));
});

describe('thresholds', () => {
  test('upper 3 lower 1: overloaded at 3 connections, new ones go elsewhere, back once fewer than 1 remain', async () => {
    const l = await load(
      `services:\n  - vip: 10.0.0.100\n    port: 80\n    scheduler: lc\n    reals:\n${realsYaml([1, 1], (i) => (i === 0 ? ', upper_threshold: 3, lower_threshold: 1' : ''))}\n`,
    );
    const a = idOf(l, '10.0.0.11'),
      b = idOf(l, '10.0.0.12');
    setConns(l, b, 100, 0); // b looks busy, so lc prefers a until a is overloaded
    const got: (string | null)[] = [];
    for (let i = 0; i < 5; i++) got.push(await newConn(l, { saddr: '198.51.100.20', sport: 7000 + i }));
    assert.deepEqual(got, ['10.0.0.11', '10.0.0.11', '10.0.0.11', '10.0.0.12', '10.0.0.12']);
    assert.equal(conns(l, '10.0.0.11').overloaded, 3);
    // Two of a's three connections end and are swept: 1 left, not < 1, still overloaded; the third: 0 < 1, lifted.
    setStateTimeouts(l, [0, 60, 900, 0, 0, 0, 0, 0]);
    for (const sport of [7000, 7001]) await send(l.dp, { saddr: '198.51.100.20', sport, tcpFlags: RST });
    await l.dp.sweep();
    assert.deepEqual([Number(conns(l, '10.0.0.11').inactive), conns(l, '10.0.0.11').overloaded], [1, 3]);
    assert.equal(await newConn(l, { saddr: '198.51.100.21' }), '10.0.0.12');
    await send(l.dp, { saddr: '198.51.100.20', sport: 7002, tcpFlags: RST });
    await l.dp.sweep();
    assert.equal(conns(l, '10.0.0.11').overloaded, 0);
    assert.equal(await newConn(l, { saddr: '198.51.100.22' }), '10.0.0.11');
    void a;
  });

  test('raising the upper threshold lifts an overload at once; a service with every real overloaded drops and counts it', async () => {
    const l = await load(`services:\n  - vip: 10.0.0.100\n    port: 80\n    scheduler: wlc\n    reals:\n${realsYaml([1], () => ', upper_threshold: 2')}\n`);
    assert.equal(await newConn(l), '10.0.0.11');
    assert.equal(await newConn(l), '10.0.0.11');
    const svcStats = () => abi.sumPerCpu(abi.counters, l.dp.maps.xlvs_st_svc.lookup(abi.u32Key(l.services[0]!.id))!, native().numPossibleCpus());
    const s0 = svcStats();
    assert.equal(await newConn(l), null);
    const s1 = svcStats();
    assert.equal(s1.drops - s0.drops, 1n);
    reapply(l, editReal(l.cfg, '10.0.0.11', { upper_threshold: 5 }));
    assert.equal(await newConn(l), '10.0.0.11');
  });
});

describe('persistence and port-0 services', () => {
  test("clients of one /24 stick to one real; another network is scheduled; a drained real's template is not honoured", async () => {
    const l = await load(
      `services:\n  - vip: 10.0.0.100\n    port: 80\n    scheduler: rr\n    persistence: { timeout: 300, netmask: 255.255.255.0 }\n    reals:\n${realsYaml([1, 1, 1])}\n`,
    );
    const first = await newConn(l, { saddr: '198.51.100.1', sport: 1000 });
    for (let i = 0; i < 5; i++) assert.equal(await newConn(l, { saddr: `198.51.100.${i + 2}`, sport: 1000 + i }), first, `client ${i}`);
    const other = await newConn(l, { saddr: '203.0.113.5', sport: 1000 });
    assert.notEqual(other, first);
    const t = l.dp.maps.xlvs_persist.lookup(abi.persistKey.encode({ caddr: abi.ipv4ToU32('198.51.100.0'), svc_id: l.services[0]!.id }));
    assert.ok(t);
    assert.equal(abi.persist.decode(t).real_id, idOf(l, first!));
    assert.equal(abi.persist.decode(t).timeout, 300);
    // Drain the template's real: the client network is scheduled afresh (and re-pinned there).
    reapply(l, editReal(l.cfg, first!, { weight: 0 }));
    const moved = await newConn(l, { saddr: '198.51.100.77', sport: 1000 });
    assert.notEqual(moved, first);
    assert.equal(await newConn(l, { saddr: '198.51.100.78', sport: 1000 }), moved);
  });

  test('a port-0 service takes every port the exact services leave, one client on one real across ports', async () => {
    const l = await load(
      `services:\n  - vip: 10.0.0.100\n    port: 0\n    scheduler: rr\n    persistence: { timeout: 60 }\n    reals:\n${realsYaml([1, 1])}\n  - vip: 10.0.0.100\n    port: 443\n    scheduler: rr\n    reals:\n      - { address: 10.0.0.14, weight: 1 }\n`,
    );
    const a = await newConn(l, { saddr: '198.51.100.30', dport: 8080 });
    assert.ok(a === '10.0.0.11' || a === '10.0.0.12');
    assert.equal(await newConn(l, { saddr: '198.51.100.30', dport: 9090 }), a, 'same client, another port: persistence across ports');
    assert.equal(await newConn(l, { saddr: '198.51.100.30', dport: 443 }), '10.0.0.14', 'the exact port wins');
    assert.notEqual(await newConn(l, { saddr: '198.51.100.31', dport: 8080 }), a, 'another client: rr moves on');
    const udp = await send(l.dp, { saddr: '198.51.100.30', proto: 17, dport: 53, payload: Buffer.from('q') });
    assert.equal(udp.retval, XDP_PASS, 'a TCP port-0 service does not take UDP');
  });
});
