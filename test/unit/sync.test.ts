// SPDX-License-Identifier: Apache-2.0
// sync.test.ts: connection sync above the codec: config errors, xlvsadm's daemon options over the API, the id mapping, and the sync daemons against fakes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Runner } from '../../src/adapters/runner';
import { SyncService } from '../../src/adapters/sync';
import type { SyncTransport } from '../../src/adapters/synctransport';
import { CS } from '../../src/core/abi';
import { type Config, validateConfig } from '../../src/core/config';
import { Controller } from '../../src/core/controller';
import { UsageError } from '../../src/core/errors';
import { IpvsadmError, parseIpvsadm } from '../../src/core/ipvsadm-parse';
import { CONN_F, encodeSyncMessage, type SyncConn, TCP_S } from '../../src/core/ipvssync';
import { decodeSyncMessage } from '../../src/core/ipvssync-decode';
import type { SyncEvent } from '../../src/core/syncdp';
import { SyncIndex } from '../../src/core/syncmap';
import { FakeDatapath } from '../lib/fakedatapath';
import { withXlvsadm } from '../lib/xlvsadmapi';

const base = {
  interface: 'eth0',
  services: [
    { vip: '10.0.0.100', port: 80, scheduler: 'wrr', reals: [{ address: '10.0.0.11' }, { address: '10.0.0.12' }] },
    { vip: '10.0.0.100', port: 0, scheduler: 'rr', persistence: { timeout: 600 }, reals: [{ address: '10.0.0.11' }] },
  ],
};

function problems(input: unknown): string[] {
  try {
    validateConfig(input);
  } catch (e) {
    if (e instanceof UsageError) return [...e.details];
    throw e;
  }
  return [];
}

test('config: the sync section gets IPVS defaults, and bad fields are named with their value', () => {
  const cfg = validateConfig({ ...base, sync: { master: { mcast_interface: 'eth1' }, backup: { mcast_interface: 'eth1', syncid: 9 } } });
  assert.deepEqual(cfg.sync, {
    master: { mcast_interface: 'eth1', syncid: 0, group: '224.0.0.81', port: 8848, ttl: 1 },
    backup: { mcast_interface: 'eth1', syncid: 9, group: '224.0.0.81', port: 8848, ttl: 1 },
  });
  assert.deepEqual(problems({ ...base, sync: { master: { mcast_interface: 'eth1', syncid: 256 } } }), ['sync.master.syncid: 256 is outside 0..255']);
  assert.deepEqual(problems({ ...base, sync: { backup: { mcast_interface: 'eth1', group: '10.0.0.1' } } }), [
    'sync.backup.group: "10.0.0.1" is not an IPv4 multicast group (224.0.0.0/4)',
  ]);
  assert.deepEqual(problems({ ...base, sync: { master: { mcast_interface: 'a/b', port: 0 } } }), [
    'sync.master.mcast_interface: "a/b" is not an interface name',
    'sync.master.port: 0 is outside 1..65535',
  ]);
  assert.deepEqual(problems({ ...base, sync: { master: {} } }), ['sync.master.mcast_interface: is required']);
  assert.deepEqual(problems({ ...base, sync: { primary: {} } }), ['sync.primary: unknown key']);
  assert.match(problems({ ...base, conn_table_per_cpu: true, sync: { backup: { mcast_interface: 'eth1' } } })[0]!, /^sync\.backup: conn_table_per_cpu/);
});

test("xlvsadm: --start-daemon/--stop-daemon parse with ipvsadm's defaults and messages", () => {
  assert.deepEqual(parseIpvsadm(['--start-daemon', 'master']), { kind: 'start-daemon', role: 'master', daemon: { mcast_interface: 'eth0', syncid: 0 } });
  assert.deepEqual(
    parseIpvsadm(
      '--start-daemon backup --mcast-interface lan0 --syncid 5 --sync-maxlen 1400 --mcast-group 239.1.1.1 --mcast-port 9000 --mcast-ttl 2'.split(' '),
    ),
    {
      kind: 'start-daemon',
      role: 'backup',
      daemon: { mcast_interface: 'lan0', syncid: 5, maxlen: 1400, group: '239.1.1.1', port: 9000, ttl: 2 },
    },
  );
  assert.deepEqual(parseIpvsadm(['--stop-daemon', 'backup']), { kind: 'stop-daemon', role: 'backup' });
  assert.deepEqual(parseIpvsadm(['-L', '--daemon']), { kind: 'list-daemon' });
  assert.deepEqual(parseIpvsadm(['--daemon']), { kind: 'list-daemon' });
  const err = (line: string) => {
    try {
      parseIpvsadm(line.split(' '));
    } catch (e) {
      return e instanceof IpvsadmError ? `${e.exitCode} ${e.message}` : String(e);
    }
    return 'accepted';
  };
  assert.equal(err('--start-daemon primary'), '2 illegal start-daemon parameter specified');
  assert.equal(err('--start-daemon master --syncid 256'), '2 illegal syncid specified');
  assert.equal(err('--start-daemon master --mcast-group 10.1.1.1'), '2 illegal mcast-group specified');
  assert.equal(err('--start-daemon master --mcast-port 70000'), '2 illegal mcast-port specified');
  assert.equal(err('--start-daemon master --mcast-ttl 0'), '2 illegal mcast-ttl specified');
  assert.equal(err('--start-daemon master --sync-maxlen x'), '2 illegal sync-maxlen specified');
  assert.equal(err('--start-daemon'), '2 option --start-daemon requires an argument');
  assert.equal(err('--start-daemon master -t 10.0.0.1:80'), "2 Illegal '-t' option with the command");
  assert.equal(err('--stop-daemon master --syncid 1'), "2 Illegal '--syncid' option with the command");
});

function controller(dp: FakeDatapath, cfg: unknown, persisted: Config[] = []): Controller {
  return new Controller(validateConfig(cfg), [], {
    datapath: dp,
    resolve: (a) => new Map(a.map((x, i) => [x, `02:00:00:00:00:${(i + 16).toString(16)}`])),
    check: () => undefined,
    persist: (c) => persisted.push(c),
    log: () => undefined,
    now: () => 0,
  });
}

test('xlvsadm end to end: start, list and stop daemons, persisted; emission follows sync.master; IPVS errors', async () => {
  const dp = new FakeDatapath();
  const persisted: Config[] = [];
  const ctl = controller(dp, base, persisted);
  await withXlvsadm(ctl, async (run) => {
    assert.equal(dp.sync.emit, false);
    await run('--start-daemon master --mcast-interface lan0 --syncid 3');
    assert.deepEqual(persisted.at(-1)!.sync, { master: { mcast_interface: 'lan0', syncid: 3, group: '224.0.0.81', port: 8848, ttl: 1 } });
    assert.equal(dp.sync.emit, true, 'a master turns datapath emission on');
    await run('--start-daemon backup --mcast-interface lan0 --sync-maxlen 9000');
    assert.equal(
      await run('-L --daemon'),
      'master sync daemon (mcast=lan0, syncid=3, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n' +
        'backup sync daemon (mcast=lan0, syncid=0, maxlen=9000, group=224.0.0.81, port=8848, ttl=1)\n',
    );
    await assert.rejects(
      run('--start-daemon master'),
      (e: unknown) => e instanceof IpvsadmError && e.exitCode === 255 && e.message === 'Daemon has already run',
    );
    await run('--stop-daemon master');
    assert.equal(dp.sync.emit, false, 'no master, no emission');
    assert.deepEqual(Object.keys(persisted.at(-1)!.sync!), ['backup']);
    await assert.rejects(run('--stop-daemon master'), (e: unknown) => e instanceof IpvsadmError && e.exitCode === 255 && e.message === 'No daemon is running');
    assert.equal(await run('-L --daemon'), 'backup sync daemon (mcast=lan0, syncid=0, maxlen=9000, group=224.0.0.81, port=8848, ttl=1)\n');
  });
});

const ev = (i: number, over: Partial<SyncEvent> = {}): SyncEvent => ({
  proto: 6,
  caddr: `198.51.100.${i & 255}`,
  cport: 10000 + i,
  vaddr: '10.0.0.100',
  vport: 80,
  raddr: '10.0.0.12',
  state: CS.ESTABLISHED,
  template: false,
  svcId: 0,
  realId: 0,
  ageMs: 0,
  ...over,
});

test('mapping: an event becomes the entry IPVS would send; an entry maps to this director ids or is refused', async () => {
  const dp = new FakeDatapath();
  const ctl = controller(dp, base);
  await ctl.sync();
  const v = ctl.syncView();
  const idx = new SyncIndex(v.observed, v.config);
  const c = idx.toConn(ev(1));
  assert.deepEqual(c, {
    protocol: 6,
    flags: CONN_F.DROUTE | CONN_F.NOOUTPUT,
    state: TCP_S.ESTABLISHED,
    caddr: '198.51.100.1',
    cport: 10001,
    vaddr: '10.0.0.100',
    vport: 80,
    daddr: '10.0.0.12',
    dport: 80,
    fwmark: 0,
    timeout: 900,
  });
  const tpl = idx.toConn(ev(2, { template: true, state: CS.NONE, cport: 0, vport: 0, raddr: '10.0.0.11' }));
  assert.equal(tpl.flags, CONN_F.DROUTE | CONN_F.NOOUTPUT | CONN_F.TEMPLATE);
  assert.equal(tpl.timeout, 600, "a template carries its service's persistence timeout");
  const svc80 = v.observed.find((s) => s.port === 80)!;
  assert.deepEqual(idx.toInsert(c), {
    proto: 6,
    caddr: '198.51.100.1',
    cport: 10001,
    vaddr: '10.0.0.100',
    vport: 80,
    svcId: svc80.id,
    realId: svc80.reals.find((r) => r.address === '10.0.0.12')!.id,
    state: CS.ESTABLISHED,
    template: false,
  });
  assert.equal(idx.toInsert({ ...c, vport: 81 }), 'no service');
  assert.equal(idx.toInsert({ ...c, daddr: '10.0.0.13' }), 'no real');
  assert.equal(idx.toInsert({ ...c, flags: CONN_F.MASQ }), 'unsupported');
  assert.equal(idx.toInsert({ ...c, fwmark: 5 }), 'unsupported');
});

/** A multicast group in memory: what a master sends reaches every backup transport opened after it. */
function memoryGroup() {
  const receivers = new Set<(b: Buffer) => void>();
  const sent: Buffer[] = [];
  const open = async (_role: string, _d: unknown, _maxlen: number, onMessage: (b: Buffer) => void): Promise<SyncTransport> => {
    receivers.add(onMessage);
    return {
      send: (b) => {
        sent.push(b);
        for (const r of receivers) if (r !== onMessage) r(b);
      },
      close: () => receivers.delete(onMessage),
    };
  };
  return { open, sent, inject: (b: Buffer) => receivers.forEach((r) => r(b)) };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('sync daemons against fakes: batching into full messages, inserts on the peer, lag and counts', async () => {
  const g = memoryGroup();
  const cfgM = { ...base, sync: { master: { mcast_interface: 'eth0', syncid: 4 } } };
  const cfgB = { ...base, sync: { backup: { mcast_interface: 'eth0', syncid: 4 } } };
  const dpM = new FakeDatapath();
  const dpB = new FakeDatapath();
  const ctlM = controller(dpM, cfgM);
  const ctlB = controller(dpB, cfgB);
  await ctlM.sync();
  await ctlB.sync();
  const svc = (ctl: Controller) => ({
    view: () => ctl.syncView(),
    mtu: () => 1500,
    log: () => undefined,
    now: () => performance.now(),
    transport: g.open,
  });
  const backup = new SyncService({ datapath: dpB, ...svc(ctlB) });
  const master = new SyncService({ datapath: dpM, ...svc(ctlM) });
  try {
    await backup.configure(ctlB.config().sync);
    await master.configure(ctlM.config().sync);
    // 100 events at once: 40 + 40 + 20 entries at the default 1472-byte maxlen.
    dpM.syncQueue.push(...Array.from({ length: 100 }, (_, i) => ev(i)));
    await until(() => dpB.synced.size === 100);
    assert.deepEqual(
      g.sent.map((b) => b[4]),
      [40, 40, 20],
    );
    assert.ok(g.sent.every((b) => b.length <= 1472 && b[1] === 4));
    const m = master.stats().master!;
    assert.equal(m.sentMessages, 3);
    assert.equal(m.sentEntries, 100);
    assert.equal(m.entriesBehind, 0);
    assert.equal(m.lagMs.samples, 100);
    await until(() => backup.stats().backup!.inserted === 100);
    const b = backup.stats().backup!;
    assert.equal(b.receivedMessages, 3);
    assert.equal(b.receivedEntries, 100);
    assert.equal(b.refused, 0);
    // The same connection again (a state change) is an update, not a second entry.
    dpM.syncQueue.push(ev(0, { state: CS.FIN_WAIT }));
    await until(() => backup.stats().backup!.updated === 1);
    assert.equal([...dpB.synced.values()].find((e) => e.cport === 10000)!.state, CS.FIN_WAIT);
    // A service the backup does not run: refused and counted; a datapath loss shows on the master.
    dpM.syncLost = 7;
    dpM.syncQueue.push(ev(200, { vport: 443 }));
    await until(() => backup.stats().backup!.refused === 1);
    await until(() => master.stats().master!.datapathLosses === 7);
  } finally {
    await master.stop();
    await backup.stop();
  }
});

test('backup: syncid filter, malformed and skipped entries counted, never thrown', async () => {
  const g = memoryGroup();
  const dp = new FakeDatapath();
  const ctl = controller(dp, { ...base, sync: { backup: { mcast_interface: 'eth0', syncid: 4 } } });
  await ctl.sync();
  const backup = new SyncService({ datapath: dp, view: () => ctl.syncView(), mtu: () => 1500, log: () => undefined, now: () => 0, transport: g.open });
  try {
    await backup.configure(ctl.config().sync);
    const c: SyncConn = {
      protocol: 6,
      flags: CONN_F.DROUTE,
      state: TCP_S.ESTABLISHED,
      caddr: '198.51.100.9',
      cport: 999,
      vaddr: '10.0.0.100',
      vport: 80,
      daddr: '10.0.0.11',
      dport: 80,
      fwmark: 0,
      timeout: 900,
    };
    g.inject(encodeSyncMessage(5, [c]));
    g.inject(encodeSyncMessage(4, [c]).subarray(0, 20));
    const bad = encodeSyncMessage(4, [c]);
    bad[5] = 0;
    g.inject(bad);
    g.inject(encodeSyncMessage(4, [c, { ...c, protocol: 132 }]));
    await until(() => backup.stats().backup!.inserted === 1);
    const b = backup.stats().backup!;
    assert.equal(b.receivedMessages, 4);
    assert.equal(b.ignored, 1, 'syncid 5 is not ours');
    assert.equal(b.malformed, 2, 'truncated, and version 0');
    assert.equal(b.skipped, 1, 'SCTP');
    assert.equal(dp.synced.size, 1);
    assert.equal(decodeSyncMessage(encodeSyncMessage(4, [c])).kind, 'ok');
  } finally {
    await backup.stop();
  }
});

test('xlvs up runs no sync daemon: it says so and drops the sync section, so the datapath never emits records nobody reads', () => {
  const lines: string[] = [];
  const cfg = validateConfig({ interface: 'eth0', services: [], sync: { master: { mcast_interface: 'eth0' } } });
  const r = new Runner(cfg, { log: (l) => lines.push(l) });
  assert.deepEqual(lines, ['warning: sync: connection sync runs under "xlvs daemon" only; "xlvs up" ignores the section']);
  assert.equal((r as unknown as { cfg: Config }).cfg.sync, undefined);
});
