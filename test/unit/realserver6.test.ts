// SPDX-License-Identifier: Apache-2.0
// realserver6.test.ts: IPv6 real servers: set-up plans (the VIP on lo as /128 nodad, no ARP steps), their refusals, persisted files, and the NDP checks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseVips } from '../../src/cli/options';
import { UsageError } from '../../src/core/errors';
import { evaluateCheck } from '../../src/core/realserver-check';
import { persistFiles } from '../../src/core/realserver-files';
import type { RsHost } from '../../src/core/realserver-host';
import { evaluateNdpVip, ndpAnswerers, subnetRouterAnycast } from '../../src/core/realserver-ndp';
import { listenerServes } from '../../src/core/realserver-probes';
import { describeStep, planSetup, planTeardown, type Step } from '../../src/core/realserver-setup';

const VIP6 = '2001:db8::100';
const VIP4 = '10.0.0.100';

/** A dual-stack real: its own addresses on eth0, default routes of both families, IPv6 on, kernel-default ARP sysctls. */
function host(): RsHost {
  return {
    devices: { lo: { mtu: 65536 }, eth0: { mtu: 1500 } },
    addrs: [
      { dev: 'lo', local: '127.0.0.1', prefixlen: 8 },
      { dev: 'lo', local: '::1', prefixlen: 128 },
      { dev: 'eth0', local: '10.0.0.11', prefixlen: 24 },
      { dev: 'eth0', local: '2001:db8::11', prefixlen: 64 },
      { dev: 'eth0', local: 'fe80::11', prefixlen: 64 },
    ],
    sysctl: { 'all/arp_ignore': 0, 'all/arp_announce': 0, 'all/rp_filter': 0, 'eth0/arp_ignore': 0, 'eth0/arp_announce': 0, 'eth0/rp_filter': 0 },
    arpTables: [],
    arpRules: [],
    defaultRoutes: [{ gateway: '10.0.0.1', dev: 'eth0' }],
    files: {},
    ipv6: {
      sysctl: {
        'all/disable_ipv6': 0,
        'lo/disable_ipv6': 0,
        'eth0/disable_ipv6': 0,
        'all/forwarding': 0,
        'eth0/forwarding': 0,
        'all/proxy_ndp': 0,
        'eth0/proxy_ndp': 0,
      },
      proxies: [],
      defaultRoutes: [{ gateway: '2001:db8::1', dev: 'eth0' }],
    },
  };
}

/** The host after the steps (addresses only: what IPv6 set-up changes). */
function applied(h: RsHost, steps: Step[]): RsHost {
  const n = JSON.parse(JSON.stringify(h)) as RsHost;
  for (const s of steps) {
    if (s.kind === 'addr-add') n.addrs.push({ dev: 'lo', local: s.vip, prefixlen: s.vip.includes(':') ? 128 : 32 });
    if (s.kind === 'addr-del') n.addrs = n.addrs.filter((a) => !(a.dev === 'lo' && a.local === s.vip));
    if (s.kind === 'sysctl') n.sysctl[s.key] = s.to;
  }
  return n;
}

function usage(fn: () => unknown, ...res: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${String(e)}`);
    for (const re of res) assert.match(e.message, re);
    return true;
  });
}

const req = (vips: string[], method: 'sysctl' | 'arp-rules' = 'sysctl') => ({ vips, method, dev: 'eth0', persist: false, root: '/' });

test('--vip takes IPv6 for realserver (canonical text); other flags stay IPv4 unless asked', () => {
  assert.deepEqual(parseVips(['2001:DB8:0::100', VIP6, VIP4], '--vip', true), [VIP6, VIP4]);
  usage(() => parseVips(['ff02::1'], '--vip', true), /--vip "ff02::1": not a usable unicast address/);
  usage(() => parseVips(['fe80::1'], '--vip', true), /not a usable unicast/);
  usage(() => parseVips(['2001:db8::zz'], '--vip', true), /--vip "2001:db8::zz": not an IP address/);
  usage(() => parseVips([VIP6]), /--vip "2001:db8::100": not an IPv4 address/);
});

test('IPv6 set-up: only the VIP on lo as /128 nodad (the kernel is silent in NDP for it), idempotent, teardown removes exactly it', () => {
  const h0 = host();
  const plan = planSetup(h0, null, req([VIP6]));
  assert.deepEqual(plan.steps.map(describeStep), [`ip addr add ${VIP6}/128 dev lo nodad`]);
  assert.deepEqual(plan.state?.sysctls, [], 'no ARP sysctl for an IPv6-only set-up');
  assert.equal(plan.state?.nft, null);
  const h1 = applied(h0, plan.steps);
  assert.deepEqual(planSetup(h1, plan.state, req([VIP6])).steps, [], 'idempotent');
  const down = planTeardown(h1, plan.state, 'all');
  assert.deepEqual(down.steps.map(describeStep), [`ip addr del ${VIP6}/128 dev lo`]);
  assert.equal(down.state, null);
  assert.deepEqual(applied(h1, down.steps).addrs, h0.addrs, "the real's own addresses are untouched");
});

test('dual-stack set-up: ARP quieted for the IPv4 VIP, both VIPs on lo; arp-rules name the IPv4 VIP only; removing the IPv4 VIP drops the arp table', () => {
  const plan = planSetup(host(), null, req([VIP4, VIP6]));
  assert.deepEqual(plan.steps.map(describeStep).slice(-2), [`ip addr add ${VIP4}/32 dev lo`, `ip addr add ${VIP6}/128 dev lo nodad`]);
  assert.equal(plan.steps.filter((s) => s.kind === 'sysctl').length, 4);

  const rules = planSetup(host(), null, req([VIP4, VIP6], 'arp-rules'));
  const nft = rules.steps.find((s) => s.kind === 'nft-replace');
  assert.ok(nft && nft.kind === 'nft-replace');
  assert.match(nft.script, /arp daddr ip 10\.0\.0\.100/);
  assert.doesNotMatch(nft.script, /2001:db8/, 'no IPv6 address in an arp table');
  const only6 = planSetup(host(), null, req([VIP6], 'arp-rules'));
  assert.deepEqual(
    only6.steps.map((s) => s.kind),
    ['addr-add'],
    'arp-rules with IPv6 VIPs only: no table',
  );

  const h1 = applied(host(), rules.steps);
  h1.arpTables = ['xlvs_rs'];
  const down4 = planTeardown(h1, rules.state, [VIP4]);
  assert.deepEqual(
    down4.steps.map((s) => s.kind),
    ['addr-del', 'nft-delete'],
  );
  assert.deepEqual(down4.state?.vips, [VIP6]);
  assert.equal(down4.state?.nft, null);
});

test('IPv6 set-up refuses, naming the flag and value: VIP on eth0, on lo as /64, IPv6 off, a proxy entry for it', () => {
  const onEth = host();
  onEth.addrs.push({ dev: 'eth0', local: VIP6, prefixlen: 64 });
  usage(() => planSetup(onEth, null, req([VIP6])), /--vip 2001:db8::100: already on eth0 .*answers neighbour solicitations for it/);
  const wide = host();
  wide.addrs.push({ dev: 'lo', local: VIP6, prefixlen: 64 });
  usage(() => planSetup(wide, null, req([VIP6])), /already on lo as \/64; the VIP belongs on lo as \/128/);
  const off = host();
  off.ipv6!.sysctl['lo/disable_ipv6'] = 1;
  usage(() => planSetup(off, null, req([VIP6])), /IPv6 is off on lo \(net\.ipv6\.conf\.lo\.disable_ipv6=1\)/);
  const proxy = host();
  proxy.ipv6!.proxies.push({ dev: 'eth0', address: '2001:DB8::100' });
  usage(() => planSetup(proxy, null, req([VIP6])), /a proxy neighbour entry for it on eth0 .*ip -6 neigh del proxy 2001:db8::100 dev eth0/);
});

test('--persist: the unit re-adds the IPv6 VIP as /128 nodad; no sysctl.d or nft file for IPv6 alone', () => {
  const plan = planSetup(host(), null, { ...req([VIP6]), persist: true });
  const files = persistFiles(plan.state!, '/');
  assert.deepEqual(
    files.map((f) => f.path),
    ['/etc/systemd/system/xlvs-realserver.service', '/etc/systemd/system/multi-user.target.wants/xlvs-realserver.service'],
  );
  assert.match(files[0]!.content, /ExecStart=\/usr\/sbin\/ip addr replace 2001:db8::100\/128 dev lo nodad\n/);
});

test('check, IPv6: a set-up real passes vip-on-lo, ipv6, ndp-silent and default-route6, and no ARP check is asked of it', () => {
  const h = applied(host(), planSetup(host(), null, req([VIP6])).steps);
  const res = evaluateCheck(h, { vips: [VIP6], dev: 'eth0', protocol: 'tcp', director: '2001:db8::2' });
  assert.deepEqual(
    res.map((r) => `${r.check}:${r.status}`),
    ['vip-on-lo:pass', 'ipv6:pass', 'ndp-silent:pass', 'default-route6:pass'],
  );
  assert.match(res[0]!.detail, /2001:db8::100\/128 on lo/);
});

test('check, IPv6: each way of answering solicitations for the VIP fails with its fix', () => {
  const base = applied(host(), planSetup(host(), null, req([VIP6])).steps);
  const failed = (h: RsHost) => evaluateCheck(h, { vips: [VIP6], dev: 'eth0', protocol: 'tcp' }).filter((r) => r.status === 'fail');

  const proxy = JSON.parse(JSON.stringify(base)) as RsHost;
  proxy.ipv6!.proxies.push({ dev: 'eth0', address: VIP6 });
  proxy.ipv6!.sysctl['eth0/forwarding'] = 1;
  proxy.ipv6!.sysctl['all/proxy_ndp'] = 1;
  const f1 = failed(proxy);
  assert.deepEqual(
    f1.map((r) => r.check),
    ['ndp-silent'],
  );
  assert.match(f1[0]!.detail, /proxy neighbour entry for 2001:db8::100 on eth0 \(forwarding and proxy_ndp on: it answers\)/);
  assert.equal(f1[0]!.hint, 'ip -6 neigh del proxy 2001:db8::100 dev eth0');
  // A proxy entry on another interface is not answered on eth0.
  const elsewhere = JSON.parse(JSON.stringify(base)) as RsHost;
  elsewhere.ipv6!.proxies.push({ dev: 'eth1', address: VIP6 });
  assert.deepEqual(failed(elsewhere), []);

  // The subnet-router anycast of eth0's /64 (2001:db8::) is answered while forwarding.
  const any = JSON.parse(JSON.stringify(base)) as RsHost;
  any.ipv6!.sysctl['eth0/forwarding'] = 1;
  assert.deepEqual(ndpAnswerers(any, any.ipv6!, '2001:db8::', 'eth0').length, 1);
  assert.deepEqual(ndpAnswerers(any, any.ipv6!, VIP6, 'eth0'), []);

  const off = JSON.parse(JSON.stringify(base)) as RsHost;
  off.ipv6!.sysctl['eth0/disable_ipv6'] = 1;
  const f2 = failed(off);
  assert.deepEqual(
    f2.map((r) => r.check),
    ['ipv6'],
  );
  assert.match(f2[0]!.hint!, /sysctl -w net\.ipv6\.conf\.eth0\.disable_ipv6=0/);

  const wide = JSON.parse(JSON.stringify(base)) as RsHost;
  wide.addrs = wide.addrs.map((a) => (a.local === VIP6 ? { ...a, prefixlen: 64 } : a));
  assert.match(failed(wide)[0]!.hint!, /ip addr add 2001:db8::100\/128 dev lo nodad/);

  const noRoute = JSON.parse(JSON.stringify(base)) as RsHost;
  noRoute.ipv6!.defaultRoutes = [];
  assert.deepEqual(
    failed(noRoute).map((r) => r.check),
    ['default-route6'],
  );
  const viaDir = JSON.parse(JSON.stringify(base)) as RsHost;
  viaDir.ipv6!.defaultRoutes = [{ gateway: '2001:db8::2', dev: 'eth0' }];
  assert.match(
    evaluateCheck(viaDir, { vips: [VIP6], dev: 'eth0', protocol: 'tcp', director: '2001:DB8::2' }).find((r) => r.check === 'default-route6')!.detail,
    /goes through the director/,
  );
  const unread = JSON.parse(JSON.stringify(base)) as RsHost;
  delete unread.ipv6;
  assert.deepEqual(
    evaluateNdpVip(unread, VIP6, 'eth0').map((r) => r.status),
    ['skip'],
  );
});

test('listeners: [::] and the VIP itself serve an IPv6 VIP; an IPv4 socket or another address does not', () => {
  const l = (family: 4 | 6, address: string) => ({ proto: 'tcp' as const, family, address, port: 80 });
  assert.equal(listenerServes(l(6, '::'), VIP6), true);
  assert.equal(listenerServes(l(6, '2001:db8:0:0:0:0:0:100'), VIP6), true);
  assert.equal(listenerServes(l(6, '2001:db8::11'), VIP6), false);
  assert.equal(listenerServes(l(4, '0.0.0.0'), VIP6), false);
  const res = evaluateCheck(host(), { vips: [VIP6], dev: 'eth0', protocol: 'tcp', port: 80 }, { listeners: [l(4, '0.0.0.0')] });
  const li = res.find((r) => r.check === 'listener')!;
  assert.equal(li.status, 'fail');
  assert.match(li.hint!, /\[2001:db8::100\]:80 or to \[::\]:80/);
});

test('subnet-router anycast: the prefix with zeros after it', () => {
  assert.equal(subnetRouterAnycast('2001:db8::11', 64), '2001:db8::');
  assert.equal(subnetRouterAnycast('2001:db8:1:2:3:4:5:6', 48), '2001:db8:1::');
  assert.equal(subnetRouterAnycast('2001:db8:1:2ff::1', 60), '2001:db8:1:2f0::');
});

test('persisted arp-rules set-up: removing the last IPv4 VIP removes the nft file and its ExecStart, the IPv6 VIP stays in the unit', () => {
  const h0 = host();
  for (const p of [
    '/etc/sysctl.d/90-xlvs-realserver.conf',
    '/etc/xlvs/realserver.nft',
    '/etc/systemd/system/xlvs-realserver.service',
    '/etc/systemd/system/multi-user.target.wants/xlvs-realserver.service',
  ])
    h0.files[p] = null;
  const up = planSetup(h0, null, { ...req([VIP4, VIP6], 'arp-rules'), persist: true });
  const h1 = applied(h0, up.steps);
  for (const s of up.steps) if (s.kind === 'write-file') h1.files[s.path] = s.content;
  h1.arpTables = ['xlvs_rs'];
  assert.ok(up.state?.persist?.files.includes('/etc/xlvs/realserver.nft'));
  const down = planTeardown(h1, up.state, [VIP4]);
  assert.ok(
    down.steps.some((s) => s.kind === 'remove-file' && s.path === '/etc/xlvs/realserver.nft'),
    down.steps.map(describeStep).join('\n'),
  );
  const unit = down.steps.find((s) => s.kind === 'write-file' && s.path.endsWith('xlvs-realserver.service'));
  assert.ok(unit && unit.kind === 'write-file');
  assert.doesNotMatch(unit.content, /nft -f/);
  assert.match(unit.content, /ip addr replace 2001:db8::100\/128 dev lo nodad/);
  assert.deepEqual(down.state?.persist?.files.includes('/etc/xlvs/realserver.nft'), false);
});
