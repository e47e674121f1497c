// SPDX-License-Identifier: Apache-2.0
// realserver.test.ts: real-server set-up plans (order, idempotence, exact reversal, refusals), nft rule summaries, /proc/net parsing, MTU search, check verdicts and the doctor's verdicts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIfName, parseMethod, parseVips } from '../../src/cli/options';
import {
  doctorAnnounce,
  doctorArpVip,
  doctorDrPath,
  doctorHoldsVip,
  doctorMac,
  doctorMtu,
  doctorOnLink,
  doctorReplyRoute,
  renderDoctorText,
  spareCandidates,
} from '../../src/core/doctor';
import { UsageError } from '../../src/core/errors';
import { inPrefix } from '../../src/core/net/prefix';
import { evaluateCheck, renderCheckText } from '../../src/core/realserver-check';
import { persistPaths, renderNftTable, renderUnit } from '../../src/core/realserver-files';
import { type ArpRule, NFT_TABLE, type RsHost, type RsState, summarizeArpRules, sysctlDotted } from '../../src/core/realserver-host';
import { listenerServes, type MtuProbe, mtuCandidates, parseProcNet } from '../../src/core/realserver-probes';
import { describeStep, planSetup, planTeardown, type Step } from '../../src/core/realserver-setup';

const VIP = '10.0.0.100';
const VIP2 = '10.0.0.101';

/** A freshly booted real: its own address on eth0, a default route via the router, kernel-default ARP sysctls. */
function bareHost(): RsHost {
  return {
    devices: { lo: { mtu: 65536 }, eth0: { mtu: 1500 } },
    addrs: [
      { dev: 'lo', local: '127.0.0.1', prefixlen: 8 },
      { dev: 'eth0', local: '10.0.0.11', prefixlen: 24 },
    ],
    sysctl: { 'all/arp_ignore': 0, 'all/arp_announce': 0, 'all/rp_filter': 0, 'eth0/arp_ignore': 0, 'eth0/arp_announce': 0, 'eth0/rp_filter': 0 },
    arpTables: [],
    arpRules: [],
    defaultRoutes: [{ gateway: '10.0.0.1', dev: 'eth0' }],
    files: {},
  };
}

/** The rules nft would hold after loading a table xlvs rendered (read back the way summarizeArpRules reads them). */
function rulesOf(script: string): ArpRule[] {
  const out: ArpRule[] = [];
  for (const line of script.split('\n')) {
    let m = /arp operation request arp daddr ip (\S+) counter drop/.exec(line);
    if (m) out.push({ table: NFT_TABLE, hook: 'input', vips: [m[1]!], operation: 'request', action: 'drop' });
    m = /arp operation reply arp saddr ip (\S+) counter drop/.exec(line);
    if (m) out.push({ table: NFT_TABLE, hook: 'output', vips: [m[1]!], operation: 'reply', action: 'drop' });
    m = /oifname "(\S+)" arp saddr ip (\S+) arp saddr ip set (\S+)/.exec(line);
    if (m) out.push({ table: NFT_TABLE, hook: 'output', vips: [m[2]!], oifname: m[1]!, action: 'mangle', mangleTo: m[3]! });
    m = /^\s*arp saddr ip (\S+) counter drop/.exec(line);
    if (m) out.push({ table: NFT_TABLE, hook: 'output', vips: [m[1]!], action: 'drop' });
  }
  return out;
}

/** What the host looks like after the steps: the model of what applyPlan does. */
function applied(h: RsHost, steps: Step[]): RsHost {
  const n: RsHost = JSON.parse(JSON.stringify(h)) as RsHost;
  for (const s of steps) {
    switch (s.kind) {
      case 'sysctl':
        n.sysctl[s.key] = s.to;
        break;
      case 'nft-replace':
        if (!n.arpTables.includes(NFT_TABLE)) n.arpTables.push(NFT_TABLE);
        n.arpRules = [...n.arpRules.filter((r) => r.table !== NFT_TABLE), ...rulesOf(s.script)];
        break;
      case 'nft-delete':
        n.arpTables = n.arpTables.filter((t) => t !== NFT_TABLE);
        n.arpRules = n.arpRules.filter((r) => r.table !== NFT_TABLE);
        break;
      case 'addr-add':
        n.addrs.push({ dev: 'lo', local: s.vip, prefixlen: 32 });
        break;
      case 'addr-del':
        n.addrs = n.addrs.filter((a) => !(a.dev === 'lo' && a.local === s.vip));
        break;
      case 'write-file':
        n.files[s.path] = s.content;
        break;
      case 'symlink':
        n.files[s.path] = `-> ${s.target}`;
        break;
      case 'remove-file':
        n.files[s.path] = null;
        break;
    }
  }
  return n;
}

function withFiles(h: RsHost, root: string): RsHost {
  for (const p of Object.values(persistPaths(root))) if (!(p in h.files)) h.files[p] = null;
  return h;
}

function usage(fn: () => unknown, ...res: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${String(e)}`);
    for (const re of res) assert.match(e.message, re);
    return true;
  });
}

test('flag parsing names the flag and the value', () => {
  assert.deepEqual(parseVips([VIP, VIP2, VIP]), [VIP, VIP2]);
  usage(() => parseVips(undefined), /--vip is required/);
  usage(() => parseVips(['10.0.0.256']), /--vip "10\.0\.0\.256": not an IPv4 address/);
  usage(() => parseVips(['010.0.0.1']), /not an IPv4 address/);
  usage(() => parseVips(['224.0.0.1']), /--vip "224\.0\.0\.1": not a usable unicast address/);
  usage(() => parseVips(['127.0.0.1']), /not a usable unicast/);
  usage(() => parseVips(['0.0.0.0']), /not a usable unicast/);
  assert.equal(parseMethod('arp-rules'), 'arp-rules');
  usage(() => parseMethod('arptables'), /--method "arptables": not a method \(known: sysctl, arp-rules\)/);
  usage(() => parseIfName('--dev', 'eth0; rm -rf /'), /--dev "eth0; rm -rf \/": not an interface name/);
  usage(() => parseIfName('--dev', 'a-very-long-interface-name'), /not an interface name/);
});

test('sysctl set-up: ARP quieted before the VIP appears, priors recorded, idempotent, and teardown restores the host exactly', () => {
  const h0 = bareHost();
  const plan = planSetup(h0, null, { vips: [VIP], method: 'sysctl', dev: 'eth0', persist: false, root: '/' });
  assert.deepEqual(plan.steps.map(describeStep), [
    'sysctl -w net.ipv4.conf.all.arp_ignore=1    # was 0',
    'sysctl -w net.ipv4.conf.all.arp_announce=2    # was 0',
    'sysctl -w net.ipv4.conf.eth0.arp_ignore=1    # was 0',
    'sysctl -w net.ipv4.conf.eth0.arp_announce=2    # was 0',
    `ip addr add ${VIP}/32 dev lo`,
  ]);
  assert.deepEqual(
    plan.state?.sysctls.map((s) => [s.key, s.prior, s.value]),
    [
      ['all/arp_ignore', 0, 1],
      ['all/arp_announce', 0, 2],
      ['eth0/arp_ignore', 0, 1],
      ['eth0/arp_announce', 0, 2],
    ],
  );
  const h1 = applied(h0, plan.steps);
  const again = planSetup(h1, plan.state, { vips: [VIP], method: 'sysctl', dev: 'eth0', persist: false, root: '/' });
  assert.deepEqual(again.steps, []);
  assert.deepEqual(again.state, plan.state);
  assert.ok(evaluateCheck(h1, { vips: [VIP], dev: 'eth0', protocol: 'tcp', director: '10.0.0.2' }).every((r) => r.status === 'pass'));

  const down = planTeardown(h1, plan.state, [VIP]);
  assert.equal(down.steps[0]!.kind, 'addr-del', 'the VIP leaves lo before ARP is loosened');
  assert.equal(down.state, null);
  assert.deepEqual(applied(h1, down.steps), h0);
});

test('sysctls already good enough are left alone, arp_ignore=3 (answers for lo addresses) is not good enough', () => {
  const h = bareHost();
  h.sysctl['all/arp_ignore'] = 2;
  h.sysctl['eth0/arp_ignore'] = 3;
  h.sysctl['all/arp_announce'] = 2;
  const plan = planSetup(h, null, { vips: [VIP], method: 'sysctl', dev: 'eth0', persist: false, root: '/' });
  assert.deepEqual(plan.steps.filter((s) => s.kind === 'sysctl').map(describeStep), [
    'sysctl -w net.ipv4.conf.eth0.arp_ignore=1    # was 3',
    'sysctl -w net.ipv4.conf.eth0.arp_announce=2    # was 0',
  ]);
  const down = planTeardown(applied(h, plan.steps), plan.state, 'all');
  assert.deepEqual(applied(applied(h, plan.steps), down.steps), h);
});

test('arp-rules set-up: one table replaced whole, rules follow the VIPs, partial and full teardown', () => {
  const h0 = bareHost();
  const p1 = planSetup(h0, null, { vips: [VIP], method: 'arp-rules', dev: 'eth0', persist: false, root: '/' });
  assert.deepEqual(
    p1.steps.map((s) => s.kind),
    ['nft-replace', 'addr-add'],
  );
  const script = (p1.steps[0] as { script: string }).script;
  assert.match(script, /^table arp xlvs_rs\ndelete table arp xlvs_rs\ntable arp xlvs_rs \{/);
  assert.match(script, /arp operation request arp daddr ip 10\.0\.0\.100 counter drop/);
  assert.match(script, /oifname "eth0" arp saddr ip 10\.0\.0\.100 arp saddr ip set 10\.0\.0\.11 counter/);
  assert.deepEqual(p1.state?.nft, { created: true, nicAddress: '10.0.0.11' });
  assert.deepEqual(p1.state?.sysctls, []);
  const h1 = applied(h0, p1.steps);
  assert.deepEqual(planSetup(h1, p1.state, { vips: [VIP], method: 'arp-rules', dev: 'eth0', persist: false, root: '/' }).steps, []);
  const checks = evaluateCheck(h1, { vips: [VIP], dev: 'eth0', protocol: 'tcp' });
  assert.match(checks.find((c) => c.check === 'arp-ignore')!.detail, /nft table arp xlvs_rs drops requests/);
  assert.match(checks.find((c) => c.check === 'arp-announce')!.detail, /rewrites it to 10\.0\.0\.11/);

  // A second VIP re-renders the table with both.
  const p2 = planSetup(h1, p1.state, { vips: [VIP2], method: 'arp-rules', dev: 'eth0', persist: false, root: '/' });
  assert.deepEqual(
    p2.steps.map((s) => s.kind),
    ['nft-replace', 'addr-add'],
  );
  assert.deepEqual(p2.state?.vips, [VIP, VIP2]);
  const h2 = applied(h1, p2.steps);
  const t1 = planTeardown(h2, p2.state, [VIP]);
  assert.deepEqual(
    t1.steps.map((s) => s.kind),
    ['addr-del', 'nft-replace'],
  );
  assert.doesNotMatch((t1.steps[1] as { script: string }).script, /10\.0\.0\.100/);
  const h3 = applied(h2, t1.steps);
  const t2 = planTeardown(h3, t1.state, [VIP2]);
  assert.deepEqual(
    t2.steps.map((s) => s.kind),
    ['addr-del', 'nft-delete'],
  );
  assert.deepEqual(applied(h3, t2.steps), h0);
});

test('teardown reverses only what set-up did: a VIP already on lo stays, a sysctl changed since stays, unknown VIPs are noted', () => {
  const h0 = bareHost();
  h0.addrs.push({ dev: 'lo', local: VIP, prefixlen: 32 });
  const p = planSetup(h0, null, { vips: [VIP], method: 'sysctl', dev: 'eth0', persist: false, root: '/' });
  assert.ok(!p.steps.some((s) => s.kind === 'addr-add'));
  assert.match(p.notes.join('\n'), /already on lo; teardown will leave it there/);
  const h1 = applied(h0, p.steps);
  h1.sysctl['all/arp_announce'] = 1; // someone else changed it afterwards
  const t = planTeardown(h1, p.state, [VIP, '10.9.9.9']);
  assert.ok(!t.steps.some((s) => s.kind === 'addr-del'));
  assert.ok(!t.steps.some((s) => s.kind === 'sysctl' && s.key === 'all/arp_announce'));
  assert.match(t.notes.join('\n'), /net\.ipv4\.conf\.all\.arp_announce is 1 now, not the 2 xlvs set; left alone/);
  assert.match(t.notes.join('\n'), /10\.9\.9\.9 was not set up by xlvs here/);
  assert.match(t.notes.join('\n'), /10\.0\.0\.100\/32 was on lo before xlvs; left there/);
  assert.deepEqual(planTeardown(h1, null, 'all'), { steps: [], state: null, notes: ['xlvs has set nothing up here; nothing to undo'] });
});

test('set-up refuses conflicts before changing anything, listing every one', () => {
  const req = { vips: [VIP], method: 'arp-rules' as const, dev: 'eth0', persist: false, root: '/' };
  const onEth = bareHost();
  onEth.addrs.push({ dev: 'eth0', local: VIP, prefixlen: 32 });
  usage(() => planSetup(onEth, null, req), /--vip 10\.0\.0\.100: already on eth0 \(10\.0\.0\.100\/32\)/);
  const wide = bareHost();
  wide.addrs.push({ dev: 'lo', local: VIP, prefixlen: 24 });
  usage(() => planSetup(wide, null, req), /already on lo as \/24/);
  const foreign = bareHost();
  foreign.arpTables.push(NFT_TABLE);
  usage(() => planSetup(foreign, null, req), /table arp xlvs_rs already exists and was not made by xlvs/);
  usage(() => planSetup(bareHost(), null, { ...req, dev: 'eth9' }), /--dev "eth9": no such interface/);
  usage(() => planSetup(bareHost(), null, { ...req, dev: 'lo' }), /--dev "lo"/);
  const noAddr = bareHost();
  noAddr.addrs = noAddr.addrs.filter((a) => a.dev !== 'eth0');
  usage(() => planSetup(noAddr, null, req), /--dev eth0: has no IPv4 address/);
  const prior = planSetup(bareHost(), null, { ...req, method: 'sysctl' }).state;
  usage(() => planSetup(bareHost(), prior, req), /--method arp-rules: 10\.0\.0\.100 already set up here with --method sysctl/);
  const both = bareHost();
  both.addrs.push({ dev: 'eth0', local: VIP, prefixlen: 24 });
  both.arpTables.push(NFT_TABLE);
  usage(() => planSetup(both, null, req), /already on eth0/, /already exists/);
  const persisted = withFiles(bareHost(), '/img');
  persisted.files['/img/etc/xlvs/realserver.nft'] = 'mine';
  usage(
    () => planSetup(persisted, null, { ...req, persist: true, root: '/img' }),
    /--persist: \/img\/etc\/xlvs\/realserver\.nft exists and was not written by xlvs/,
  );
});

test('--persist writes sysctl.d, the nft file and a unit, rewrites them as VIPs change, and removes them last', () => {
  const h0 = withFiles(bareHost(), '/img');
  const p = planSetup(h0, null, { vips: [VIP], method: 'sysctl', dev: 'eth0', persist: true, root: '/img' });
  const paths = persistPaths('/img');
  assert.deepEqual(
    p.steps.filter((s) => s.kind === 'write-file' || s.kind === 'symlink').map((s) => (s as { path: string }).path),
    [paths.sysctl, paths.unit, paths.wants],
  );
  const h1 = applied(h0, p.steps);
  assert.match(h1.files[paths.sysctl]!, /^net\.ipv4\.conf\.all\.arp_ignore = 1$/m);
  assert.match(h1.files[paths.unit]!, /^ExecStart=\/usr\/sbin\/ip addr replace 10\.0\.0\.100\/32 dev lo$/m);
  assert.equal(h1.files[paths.wants], '-> /etc/systemd/system/xlvs-realserver.service');
  assert.deepEqual(p.state?.persist, { root: '/img', files: [paths.sysctl, paths.unit, paths.wants] });
  assert.deepEqual(
    planSetup(h1, p.state, { vips: [VIP], method: 'sysctl', dev: 'eth0', persist: false, root: '/' }).steps,
    [],
    'persisting sticks without the flag',
  );
  const p2 = planSetup(h1, p.state, { vips: [VIP2], method: 'sysctl', dev: 'eth0', persist: false, root: '/' });
  assert.deepEqual(
    p2.steps.map((s) => s.kind),
    ['addr-add', 'write-file'],
  );
  const h2 = applied(h1, p2.steps);
  const t = planTeardown(h2, p2.state, 'all');
  assert.deepEqual(
    t.steps.filter((s) => s.kind === 'remove-file').map((s) => (s as { path: string }).path),
    [paths.wants, paths.unit, paths.sysctl],
  );
  assert.deepEqual(applied(h2, t.steps), h0);

  const unit = renderUnit({ ...p2.state!, method: 'arp-rules', nft: { created: true, nicAddress: '10.0.0.11' } });
  assert.match(
    unit,
    /ExecStart=\/usr\/sbin\/nft -f \/etc\/xlvs\/realserver\.nft\nExecStart=\/usr\/sbin\/ip addr replace 10\.0\.0\.100\/32 dev lo\nExecStart=\/usr\/sbin\/ip addr replace 10\.0\.0\.101\/32 dev lo/,
  );
  assert.match(unit, /After=systemd-sysctl\.service nftables\.service/);
  assert.deepEqual(persistPaths('/'), {
    sysctl: '/etc/sysctl.d/90-xlvs-realserver.conf',
    nft: '/etc/xlvs/realserver.nft',
    unit: '/etc/systemd/system/xlvs-realserver.service',
    wants: '/etc/systemd/system/multi-user.target.wants/xlvs-realserver.service',
  });
});

test('a VLAN device is written with a slash in dotted sysctl names', () => {
  assert.equal(sysctlDotted('eth0.100/arp_ignore'), 'net.ipv4.conf.eth0/100.arp_ignore');
  assert.match(renderNftTable([VIP], 'eth0.100', '10.0.0.11'), /oifname "eth0\.100" arp saddr ip 10\.0\.0\.100 arp saddr ip set 10\.0\.0\.11/);
});

/** `nft -j list ruleset arp` for the table xlvs renders (nftables 1.0.6), plus a rule this summary must not trust. */
const NFT_JSON = {
  nftables: [
    { metainfo: { version: '1.0.6', json_schema_version: 1 } },
    { table: { family: 'arp', name: 'xlvs_rs', handle: 1 } },
    { chain: { family: 'arp', table: 'xlvs_rs', name: 'input', handle: 1, type: 'filter', hook: 'input', prio: 0, policy: 'accept' } },
    { chain: { family: 'arp', table: 'xlvs_rs', name: 'output', handle: 2, type: 'filter', hook: 'output', prio: 0, policy: 'accept' } },
    {
      rule: {
        family: 'arp',
        table: 'xlvs_rs',
        chain: 'input',
        handle: 3,
        expr: [
          { match: { op: '==', left: { payload: { protocol: 'arp', field: 'operation' } }, right: 'request' } },
          { match: { op: '==', left: { payload: { protocol: 'arp', field: 'daddr ip' } }, right: '10.0.0.100' } },
          { counter: { packets: 0, bytes: 0 } },
          { drop: null },
        ],
      },
    },
    {
      rule: {
        family: 'arp',
        table: 'xlvs_rs',
        chain: 'output',
        handle: 4,
        expr: [
          { match: { op: '==', left: { meta: { key: 'oifname' } }, right: 'eth0' } },
          { match: { op: '==', left: { payload: { protocol: 'arp', field: 'saddr ip' } }, right: '10.0.0.100' } },
          { mangle: { key: { payload: { protocol: 'arp', field: 'saddr ip' } }, value: '10.0.0.11' } },
          { counter: { packets: 0, bytes: 0 } },
        ],
      },
    },
    {
      rule: {
        family: 'arp',
        table: 'xlvs_rs',
        chain: 'output',
        handle: 5,
        expr: [
          { match: { op: '==', left: { payload: { protocol: 'arp', field: 'operation' } }, right: 'reply' } },
          { match: { op: '==', left: { payload: { protocol: 'arp', field: 'saddr ip' } }, right: '10.0.0.100' } },
          { drop: null },
        ],
      },
    },
    { table: { family: 'arp', name: 'filter', handle: 2 } },
    { chain: { family: 'arp', table: 'filter', name: 'INPUT', handle: 1, type: 'filter', hook: 'input', prio: 0, policy: 'accept' } },
    {
      rule: {
        family: 'arp',
        table: 'filter',
        chain: 'INPUT',
        handle: 2,
        expr: [
          { match: { op: '==', left: { payload: { protocol: 'arp', field: 'daddr ip' } }, right: { set: ['10.0.0.101', '10.0.0.102'] } } },
          { drop: null },
        ],
      },
    },
    {
      rule: {
        family: 'arp',
        table: 'filter',
        chain: 'INPUT',
        handle: 3,
        expr: [
          { match: { op: '==', left: { payload: { protocol: 'arp', field: 'saddr ether' } }, right: 'aa:bb:cc:dd:ee:ff' } },
          { match: { op: '==', left: { payload: { protocol: 'arp', field: 'daddr ip' } }, right: '10.0.0.103' } },
          { drop: null },
        ],
      },
    },
  ],
};

test('nft rule summary: what drops requests for a VIP and what hides it as ARP sender, across tables', () => {
  const rules = summarizeArpRules(NFT_JSON);
  assert.deepEqual(rules, [
    { table: 'xlvs_rs', hook: 'input', vips: ['10.0.0.100'], action: 'drop', operation: 'request' },
    { table: 'xlvs_rs', hook: 'output', vips: ['10.0.0.100'], action: 'mangle', oifname: 'eth0', mangleTo: '10.0.0.11' },
    { table: 'xlvs_rs', hook: 'output', vips: ['10.0.0.100'], action: 'drop', operation: 'reply' },
    { table: 'filter', hook: 'input', vips: ['10.0.0.101', '10.0.0.102'], action: 'drop' },
  ]);
  const h = bareHost();
  h.arpRules = rules;
  const r = evaluateCheck(h, { vips: ['10.0.0.100', '10.0.0.101', '10.0.0.103'], dev: 'eth0', protocol: 'tcp' });
  const st = (check: string, vip: string) => r.find((x) => x.check === check && x.vip === vip)!.status;
  assert.equal(st('arp-ignore', '10.0.0.100'), 'pass');
  assert.equal(st('arp-announce', '10.0.0.100'), 'pass');
  assert.equal(st('arp-ignore', '10.0.0.101'), 'pass', "a user's arptables-style rule counts too");
  assert.equal(st('arp-announce', '10.0.0.101'), 'fail', 'a reply-only rule does not hide announcements');
  assert.equal(st('arp-ignore', '10.0.0.103'), 'fail', 'a rule narrowed by something unjudged is not trusted');
  assert.deepEqual(summarizeArpRules(null), []);
  assert.deepEqual(summarizeArpRules({ nftables: 'x' }), []);
});

test('/proc/net/tcp and udp: listening sockets, IPv4 and IPv6, little- and big-endian hosts', () => {
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0',
    '   1: 0B00000A:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0',
    '   2: 6400000A:0050 0200000A:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0',
  ].join('\n');
  assert.deepEqual(parseProcNet(tcp, { proto: 'tcp', family: 4, endianness: 'LE' }), [
    { proto: 'tcp', family: 4, address: '0.0.0.0', port: 80 },
    { proto: 'tcp', family: 4, address: '10.0.0.11', port: 8080 },
  ]);
  const be = parseProcNet('hdr\n   0: 0A00000B:1F90 00000000:0000 0A x', { proto: 'tcp', family: 4, endianness: 'BE' });
  assert.deepEqual(be, [{ proto: 'tcp', family: 4, address: '10.0.0.11', port: 8080 }]);
  const tcp6 = [
    'hdr',
    '   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A x',
    '   1: 0000000000000000FFFF00006400000A:01BB 00000000000000000000000000000000:0000 0A x',
    '   2: 000080FE00000000FF005E020100005E:0016 00000000000000000000000000000000:0000 0A x',
  ].join('\n');
  const l6 = parseProcNet(tcp6, { proto: 'tcp', family: 6, endianness: 'LE' });
  assert.deepEqual(
    l6.map((l) => `${l.address}/${l.port}`),
    ['::/80', '::ffff:10.0.0.100/443', 'fe80:0:0:0:25e:ff:5e00:1/22'],
  );
  const udp = 'hdr\n  1: 6400000A:2328 00000000:0000 07 x\n  2: 00000000:2329 00000000:0000 01 x';
  assert.deepEqual(parseProcNet(udp, { proto: 'udp', family: 4, endianness: 'LE' }), [{ proto: 'udp', family: 4, address: '10.0.0.100', port: 9000 }]);
  assert.ok(listenerServes({ proto: 'tcp', family: 4, address: '0.0.0.0', port: 80 }, VIP));
  assert.ok(listenerServes({ proto: 'tcp', family: 6, address: '::', port: 80 }, VIP));
  assert.ok(listenerServes({ proto: 'tcp', family: 6, address: `::ffff:${VIP}`, port: 80 }, VIP));
  assert.ok(!listenerServes({ proto: 'tcp', family: 4, address: '10.0.0.11', port: 80 }, VIP));
});

test('MTU search: candidates strictly inside the gap, and a few rounds of them find the exact size', () => {
  assert.deepEqual(mtuCandidates(100, 101, 8), []);
  assert.deepEqual(mtuCandidates(100, 103, 8), [101, 102]);
  for (const [lo, hi] of [
    [84, 1500],
    [84, 9000],
    [1400, 1500],
  ] as const) {
    const c = mtuCandidates(lo, hi, 12);
    assert.ok(c.length <= 12 && c.every((x, i) => x > lo && x < hi && (i === 0 || x > c[i - 1]!)), `${lo}..${hi}: ${c}`);
  }
  for (const mtu of [84, 85, 576, 1280, 1404, 1499]) {
    let lo = 84;
    let hi = 1500;
    let rounds = 0;
    for (; hi - lo > 1; rounds++) {
      const c = mtuCandidates(lo, hi, 12);
      lo = Math.max(lo, ...c.filter((x) => x <= mtu));
      hi = Math.min(hi, ...c.filter((x) => x > mtu));
    }
    assert.equal(lo, mtu);
    assert.ok(rounds <= 4, `${rounds} rounds for ${mtu}`);
  }
});

test('check: every misconfiguration fails its own check with a fix', () => {
  const good = (): RsHost => {
    const h = bareHost();
    h.addrs.push({ dev: 'lo', local: VIP, prefixlen: 32 });
    Object.assign(h.sysctl, { 'all/arp_ignore': 1, 'eth0/arp_ignore': 1, 'all/arp_announce': 2, 'eth0/arp_announce': 2 });
    return h;
  };
  const listeners = [{ proto: 'tcp' as const, family: 4 as const, address: '0.0.0.0', port: 80 }];
  const input = { vips: [VIP], dev: 'eth0', protocol: 'tcp' as const, director: '10.0.0.2', port: 80, mtu: 1500 };
  const ok: MtuProbe = { target: '10.0.0.2', size: 1500, passed: true, reachable: true };
  const healthy = evaluateCheck(good(), input, { listeners, mtu: ok });
  assert.deepEqual(
    healthy.map((r) => `${r.check}:${r.status}`),
    ['vip-on-lo:pass', 'arp-ignore:pass', 'arp-announce:pass', 'rp-filter:pass', 'default-route:pass', 'listener:pass', 'mtu:pass'],
  );
  assert.match(renderCheckText(healthy, 'head'), /ready for LVS-DR\n$/);

  const failing = (h: RsHost, o: Partial<typeof input> = {}, p: { listeners?: typeof listeners; mtu?: MtuProbe } = {}) =>
    evaluateCheck(h, { ...input, ...o }, { listeners, mtu: ok, ...p }).filter((r) => r.status === 'fail');
  const noVip = good();
  noVip.addrs = noVip.addrs.filter((a) => a.local !== VIP);
  assert.deepEqual(
    failing(noVip).map((r) => r.check),
    ['vip-on-lo'],
  );
  const ign = good();
  ign.sysctl['all/arp_ignore'] = 0;
  ign.sysctl['eth0/arp_ignore'] = 0;
  const f1 = failing(ign);
  assert.deepEqual(
    f1.map((r) => r.check),
    ['arp-ignore'],
  );
  assert.match(f1[0]!.hint!, /xlvs realserver setup --vip 10\.0\.0\.100 --dev eth0/);
  const ann = good();
  ann.sysctl['all/arp_announce'] = 0;
  ann.sysctl['eth0/arp_announce'] = 1;
  assert.deepEqual(
    failing(ann).map((r) => r.check),
    ['arp-announce'],
  );
  const gw = good();
  gw.defaultRoutes = [{ gateway: '10.0.0.2', dev: 'eth0' }];
  const f2 = failing(gw);
  assert.deepEqual(
    f2.map((r) => r.check),
    ['default-route'],
  );
  assert.match(f2[0]!.detail, /goes through the director/);
  const own = [{ proto: 'tcp' as const, family: 4 as const, address: '10.0.0.11', port: 80 }];
  const f3 = failing(good(), {}, { listeners: own });
  assert.deepEqual(
    f3.map((r) => r.check),
    ['listener'],
  );
  assert.match(f3[0]!.detail, /listens on 10\.0\.0\.11:80 only/);
  const bigMtu = good();
  bigMtu.devices.eth0!.mtu = 9000;
  const f4 = failing(bigMtu, {}, { mtu: { target: '10.0.0.2', size: 9000, passed: false, reachable: true, largest: 1500 } });
  assert.deepEqual(
    f4.map((r) => r.check),
    ['mtu'],
  );
  assert.match(f4[0]!.detail, /eth0 MTU 9000 differs from the director's 1500.*largest that did was 1500/);
  const small = good();
  small.devices.eth0!.mtu = 1400;
  assert.deepEqual(
    failing(small, {}, { mtu: { target: '10.0.0.2', size: 1400, passed: true, reachable: true } }).map((r) => r.check),
    ['mtu'],
  );
  const strict = good();
  Object.assign(strict.sysctl, { 'all/rp_filter': 1 });
  strict.defaultRoutes = [{ gateway: '192.168.1.1', dev: 'eth1' }];
  assert.deepEqual(
    failing(strict).map((r) => r.check),
    ['rp-filter'],
  );
  const loose = good();
  Object.assign(loose.sysctl, { 'eth0/rp_filter': 2 });
  loose.defaultRoutes = [{ gateway: '192.168.1.1', dev: 'eth1' }];
  assert.deepEqual(
    failing(loose).map((r) => r.check),
    [],
  );
  const onEth = good();
  onEth.addrs.push({ dev: 'eth0', local: VIP, prefixlen: 24 });
  assert.match(failing(onEth)[0]!.detail, /is on eth0 \(\/24\)/);
  assert.match(renderCheckText(failing(gw), 'head'), /to fix:\n {2}default-route: ip route replace default via <router> dev eth0\n1 check failed\n$/);
});

test('doctor verdicts name the real and say how to fix it', () => {
  const macs = new Map([['02:00:00:00:00:12', '10.0.0.12']]);
  const arp = doctorArpVip(
    VIP,
    '02:00:00:00:00:02',
    [
      { mac: '02:00:00:00:00:12', spa: VIP },
      { mac: '02:00:00:00:00:02', spa: VIP },
      { mac: '02:00:00:00:00:99', spa: VIP },
    ],
    macs,
    true,
  );
  assert.equal(arp.status, 'fail');
  assert.match(arp.detail, /answered by 02:00:00:00:00:12 \(real 10\.0\.0\.12\), 02:00:00:00:00:99/);
  assert.match(arp.hint!, /on 10\.0\.0\.12: xlvs realserver setup --vip 10\.0\.0\.100/);
  assert.equal(doctorArpVip(VIP, '02:00:00:00:00:02', [], macs, false).status, 'pass');

  const svc = { protocol: 'tcp' as const, vip: VIP, port: 80 };
  assert.equal(doctorDrPath(svc, '10.0.0.11', { kind: 'synack', mss: 1460 }).status, 'pass');
  assert.match(doctorDrPath(svc, '10.0.0.11', { kind: 'rst' }).detail, /refuses port 80 \(RST\)/);
  assert.equal(doctorDrPath(svc, '10.0.0.11', { kind: 'timeout' }).status, 'fail');
  assert.equal(doctorDrPath({ ...svc, protocol: 'udp' }, '10.0.0.11', { kind: 'silent' }).status, 'skip');
  assert.equal(doctorDrPath({ ...svc, protocol: 'udp' }, '10.0.0.11', { kind: 'unreachable' }).status, 'fail');
  assert.equal(doctorDrPath(svc, '10.0.0.11', null).status, 'skip');

  assert.equal(doctorMtu('10.0.0.11', 'eth0', 1500, { target: '10.0.0.11', size: 1500, passed: true, reachable: true }, 1460).status, 'pass');
  assert.match(
    doctorMtu('10.0.0.11', 'eth0', 1500, { target: '10.0.0.11', size: 1500, passed: false, reachable: true, largest: 1404 }, undefined).detail,
    /largest that did was 1404/,
  );
  assert.match(
    doctorMtu('10.0.0.11', 'eth0', 1500, { target: '10.0.0.11', size: 1500, passed: true, reachable: true }, 8960).detail,
    /MSS 8960 \(MTU 9000\), larger than eth0's MTU 1500/,
  );
  assert.equal(doctorMtu('10.0.0.11', 'eth0', 1500, { target: '10.0.0.11', size: 1500, passed: false, reachable: false }, undefined).status, 'skip');
  // IPv6: an MSS leaves out 60 bytes of headers, and a too-large packet draws "packet too big".
  const r6 = '2001:db8::11';
  const ok6 = { target: r6, size: 1500, passed: true, reachable: true };
  assert.equal(doctorMtu(r6, 'eth0', 1500, ok6, 1440).status, 'pass');
  assert.match(doctorMtu(r6, 'eth0', 1500, ok6, 1460).detail, /MSS 1460 \(MTU 1520\), .* ICMP "packet too big"/);
  assert.match(doctorReplyRoute(r6, '2001:db8::100', '100::1', true, true).hint!, /^on 2001:db8::11: ip -6 route replace default via <router>/);
  assert.match(doctorReplyRoute('10.0.0.11', VIP, '192.0.2.1', true, true).hint!, /^on 10\.0\.0\.11: ip route replace/);
  assert.match(doctorMac(r6, null, 'eth0').detail, /^no neighbour advertisement from 2001:db8::11 on eth0$/);
  assert.match(doctorOnLink(r6, 'eth0', null, []).detail, /eth0 has no IPv6 subnet/);

  assert.equal(doctorHoldsVip('10.0.0.11', VIP, { echo: false, tcp: true }).status, 'pass');
  assert.equal(doctorHoldsVip('10.0.0.11', VIP, { echo: false, tcp: false }).status, 'fail');
  assert.equal(doctorAnnounce('10.0.0.11', VIP, '10.0.0.254', true, ['10.0.0.11']).status, 'pass');
  assert.equal(doctorAnnounce('10.0.0.11', VIP, '10.0.0.254', true, ['10.0.0.11', VIP]).status, 'fail');
  assert.equal(doctorAnnounce('10.0.0.11', VIP, null, false, []).status, 'skip');
  assert.match(doctorAnnounce('10.0.0.11', VIP, '10.0.0.254', false, [], false).detail, /does not answer for 10\.0\.0\.100/);
  assert.equal(doctorReplyRoute('10.0.0.11', VIP, '192.0.2.1', true, true).status, 'fail');
  assert.equal(doctorReplyRoute('10.0.0.11', VIP, '192.0.2.1', true, false).status, 'pass');
  assert.equal(doctorReplyRoute('10.0.0.11', VIP, '192.0.2.1', false, false).status, 'skip');
  assert.equal(doctorOnLink('10.0.0.11', 'eth0', { dev: 'eth0' }, ['10.0.0.0/24']).status, 'pass');
  assert.match(
    doctorOnLink('10.1.0.11', 'eth0', { dev: 'eth0', gateway: '10.0.0.1' }, ['10.0.0.0/24']).detail,
    /outside eth0's subnet 10\.0\.0\.0\/24, routed via 10\.0\.0\.1 dev eth0/,
  );

  const text = renderDoctorText({
    interface: 'eth0',
    directorMac: '02:00:00:00:00:02',
    directorAddress: '10.0.0.2/24',
    mtu: 1500,
    xdp: null,
    probeAddress: '10.0.0.254',
    offlinkAddress: '192.0.2.1',
    offlinkAddress6: '100::1',
    checks: [arp],
    ok: false,
  });
  assert.match(
    text,
    /^xlvs doctor on eth0 \(02:00:00:00:00:02, 10\.0\.0\.2\/24, MTU 1500\), no XDP program attached\nCHECK +SUBJECT +RESULT +DETAIL\narp-vip +VIP 10\.0\.0\.100 +FAIL +ARP for/,
  );
  assert.match(text, /to fix:\n {2}arp-vip VIP 10\.0\.0\.100: on 10\.0\.0\.12: xlvs realserver setup/);
  assert.match(text, /1 check failed\n$/);
});

test('spare-address candidates come from the top of the subnet and skip what is taken', () => {
  assert.deepEqual(spareCandidates('10.0.0.0/24', new Set(['10.0.0.254', '10.0.0.252']), 3), ['10.0.0.253', '10.0.0.251', '10.0.0.250']);
  assert.deepEqual(spareCandidates('10.0.0.8/30', new Set(), 5), ['10.0.0.10', '10.0.0.9']);
  assert.deepEqual(spareCandidates('10.0.0.8/31', new Set(), 5), []);
  assert.ok(inPrefix('10.0.0.200', '10.0.0.0/24'));
  assert.ok(!inPrefix('10.0.1.1', '10.0.0.0/24'));
  assert.ok(inPrefix('8.8.8.8', '0.0.0.0/0'));
});

test('state records are plain JSON the next run reads back unchanged', () => {
  const p = planSetup(bareHost(), null, { vips: [VIP], method: 'arp-rules', dev: 'eth0', persist: false, root: '/' });
  const back = JSON.parse(JSON.stringify(p.state)) as RsState;
  assert.deepEqual(back, p.state);
  assert.equal(back.version, 1);
});
