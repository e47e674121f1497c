// SPDX-License-Identifier: Apache-2.0
// realserver.test.ts: `xlvs realserver setup|teardown|check` and `xlvs router-arp` on bare real servers of the namespace lab: set-up passes check, teardown restores the host exactly, both methods keep the real silent on ARP, bad input changes nothing.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { ADDR, type DrLab, realAddress } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const VIP = ADDR.vip;
const VIP2 = '10.0.0.101';
const STATE_DIRS = ['/run/xlvs/realserver', '/var/lib/xlvs/realserver'];

interface Snapshot {
  addr: unknown;
  sysctl: string;
  nft: string;
}

interface CheckJson {
  ok: boolean;
  checks: { check: string; vip?: string; status: string; detail: string; hint?: string }[];
}

describe('xlvs realserver on bare real servers', { timeout: 300_000 }, () => {
  const L = useLab({ reals: 3, realSetup: 'bare', handleSignals: true });
  const persistRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-rs-persist-'));
  let prefix = '';

  after(() => {
    // State files of this run's namespaces, whatever a failed test left behind.
    for (const dir of STATE_DIRS) {
      for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : [])
        if (prefix && f.startsWith(`netns-${prefix}`)) fs.rmSync(path.join(dir, f), { force: true });
    }
    fs.rmSync(persistRoot, { recursive: true, force: true });
  });

  function lab(): DrLab {
    const l = L();
    prefix = l.prefix;
    return l;
  }

  async function xlvs(role: string, args: string[]) {
    const l = lab();
    return l.exec(role, [l.xlvsBin(), ...args], { allowFail: true, timeoutMs: 60_000 });
  }

  async function snapshot(role: string): Promise<Snapshot> {
    const l = lab();
    const addr = JSON.parse((await l.exec(role, ['ip', '-j', 'addr'])).stdout) as unknown;
    const sysctl = (await l.exec(role, ['sysctl', '-a', '--pattern', 'net\\.ipv4\\.conf\\..*\\.(arp_ignore|arp_announce|rp_filter)$'])).stdout;
    const nft = (await l.exec(role, ['nft', '-j', 'list', 'ruleset'])).stdout;
    return { addr, sysctl, nft };
  }

  function stateFile(role: string): string | undefined {
    for (const dir of STATE_DIRS) {
      const f = path.join(dir, `netns-${lab().ns(role)}.json`);
      if (fs.existsSync(f)) return f;
    }
    return undefined;
  }

  async function check(role: string, extra: string[] = []): Promise<{ code: number | null; json: CheckJson }> {
    const r = await xlvs(role, ['realserver', 'check', '--vip', VIP, '--json', ...extra]);
    try {
      return { code: r.code, json: JSON.parse(r.stdout) as CheckJson };
    } catch {
      throw new Error(`check printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
  }

  const failing = (j: CheckJson): string[] => j.checks.filter((c) => c.status === 'fail').map((c) => c.check);

  test('sysctl method: a bare real fails check, setup makes it pass, a second setup changes nothing, teardown restores the host exactly', async () => {
    const before = await snapshot('rs1');
    const bare = await check('rs1', ['--director', ADDR.director, '--port', '80']);
    assert.equal(bare.code, 1);
    assert.deepEqual(failing(bare.json), ['vip-on-lo', 'arp-ignore', 'arp-announce']);
    assert.ok(bare.json.checks.filter((c) => c.status === 'fail').every((c) => c.hint?.includes(`xlvs realserver setup --vip ${VIP}`)));

    const dry = await xlvs('rs1', ['realserver', 'setup', '--vip', VIP, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(dry.stdout.trim().split('\n').slice(0, 6), [
      '# xlvs realserver setup --dry-run: would run, in order:',
      'sysctl -w net.ipv4.conf.all.arp_ignore=1    # was 0',
      'sysctl -w net.ipv4.conf.all.arp_announce=2    # was 0',
      'sysctl -w net.ipv4.conf.eth0.arp_ignore=1    # was 0',
      'sysctl -w net.ipv4.conf.eth0.arp_announce=2    # was 0',
      `ip addr add ${VIP}/32 dev lo`,
    ]);
    assert.deepEqual(await snapshot('rs1'), before, '--dry-run changed the host');
    assert.equal(stateFile('rs1'), undefined);

    const up = await xlvs('rs1', ['realserver', 'setup', '--vip', VIP]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /set up on lo \(method sysctl, eth0\)/);
    assert.ok(stateFile('rs1'));
    const good = await check('rs1', ['--director', ADDR.director, '--port', '80', '--mtu', '1500']);
    assert.equal(good.code, 0, JSON.stringify(good.json, null, 2));
    assert.deepEqual(
      good.json.checks.map((c) => `${c.check}:${c.status}`),
      ['vip-on-lo:pass', 'arp-ignore:pass', 'arp-announce:pass', 'rp-filter:pass', 'default-route:pass', 'listener:pass', 'mtu:pass'],
    );

    const setUp = await snapshot('rs1');
    const again = await xlvs('rs1', ['realserver', 'setup', '--vip', VIP]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing to change/);
    assert.deepEqual(await snapshot('rs1'), setUp);

    const down = await xlvs('rs1', ['realserver', 'teardown', '--vip', VIP]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await snapshot('rs1'), before);
    assert.equal(stateFile('rs1'), undefined);
    const twice = await xlvs('rs1', ['realserver', 'teardown', '--vip', VIP]);
    assert.equal(twice.code, 0);
    assert.match(twice.stdout, /nothing to undo/);
  });

  test('arp-rules method: one nft table, check passes by its rules, VIPs added and removed one at a time, teardown restores the host exactly', async () => {
    const before = await snapshot('rs2');
    const up = await xlvs('rs2', ['realserver', 'setup', '--vip', VIP, '--method', 'arp-rules']);
    assert.equal(up.code, 0, up.stderr);
    const c = await check('rs2', ['--director', ADDR.director]);
    assert.equal(c.code, 0, JSON.stringify(c.json, null, 2));
    assert.match(c.json.checks.find((x) => x.check === 'arp-ignore')!.detail, /nft table arp xlvs_rs drops requests/);
    assert.match(c.json.checks.find((x) => x.check === 'arp-announce')!.detail, new RegExp(`rewrites it to ${realAddress(2).replace(/\./g, '\\.')}`));
    // The kernel's ARP sysctls were not touched by this method.
    assert.equal((await snapshot('rs2')).sysctl, before.sysctl);

    // A second VIP keeps the method of the first without being told.
    const add = await xlvs('rs2', ['realserver', 'setup', '--vip', VIP2]);
    assert.equal(add.code, 0, add.stderr);
    const rules = (await lab().exec('rs2', ['nft', 'list', 'table', 'arp', 'xlvs_rs'])).stdout;
    assert.match(rules, new RegExp(`arp daddr ip ${VIP2.replace(/\./g, '\\.')} counter`));
    const one = await xlvs('rs2', ['realserver', 'teardown', '--vip', VIP]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, new RegExp(`still set up: ${VIP2.replace(/\./g, '\\.')}`));
    assert.deepEqual(await lab().addresses('rs2', 'lo'), ['127.0.0.1/8', `${VIP2}/32`]);
    const rest = await xlvs('rs2', ['realserver', 'teardown', '--all']);
    assert.equal(rest.code, 0, rest.stderr);
    assert.deepEqual(await snapshot('rs2'), before);
    assert.equal(stateFile('rs2'), undefined);
  });

  test('both methods keep the real silent when the router ARPs for the VIP, and keep the VIP out of its own ARP', async () => {
    const l = lab();
    const before = { rs1: await snapshot('rs1'), rs2: await snapshot('rs2'), rs3: await snapshot('rs3') };
    assert.equal((await xlvs('rs1', ['realserver', 'setup', '--vip', VIP, '--method', 'sysctl'])).code, 0);
    assert.equal((await xlvs('rs2', ['realserver', 'setup', '--vip', VIP, '--method', 'arp-rules'])).code, 0);
    // Control: rs3 holds the VIP with the kernel's defaults, which is what both methods exist to prevent.
    await l.exec('rs3', ['ip', 'addr', 'add', `${VIP}/32`, 'dev', 'lo']);
    try {
      const { replies, output } = await l.arping('router', 'eth0', VIP, 3);
      assert.ok(replies.length >= 3, `the unprotected control real should answer:\n${output}`);
      assert.deepEqual([...new Set(replies)], [l.macs.rs3], output);

      // A reply leaving from the VIP to a neighbour not yet resolved makes the real ARP for it; the router, asked,
      // learns whatever sender address the request carries.
      const learnedFrom = async (rs: string): Promise<string | null> => {
        await l.exec('router', ['ip', 'neigh', 'flush', 'dev', 'eth0']);
        await l.exec(rs, ['ip', 'neigh', 'flush', 'dev', 'eth0']);
        await l.exec(rs, ['ping', '-c', '1', '-W', '2', '-I', VIP, ADDR.router], { allowFail: true });
        return l.neighbourMac('router', VIP, 'eth0');
      };
      // The control now ignores ARP for the VIP, so the router can learn it from rs3 only by rs3's announcement.
      await l.exec('rs3', ['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.eth0.arp_ignore=1']);
      assert.equal(await learnedFrom('rs3'), l.macs.rs3, 'control: arp_announce=0 announces the VIP');
      await l.exec('rs3', ['ip', 'addr', 'del', `${VIP}/32`, 'dev', 'lo']);
      assert.equal(await learnedFrom('rs1'), null, 'sysctl method announced the VIP');
      assert.equal(await learnedFrom('rs2'), null, 'arp-rules method announced the VIP');
      assert.equal(await l.neighbourMac('router', realAddress(2), 'eth0'), l.macs.rs2, "the rewritten request names rs2's own address");
      const counters = (await l.exec('rs2', ['nft', 'list', 'table', 'arp', 'xlvs_rs'])).stdout;
      assert.match(counters, /arp saddr ip set 10\.0\.0\.12 counter packets [1-9]/);
      assert.match(counters, /arp daddr ip 10\.0\.0\.100 counter packets [1-9]\d* bytes \d+ drop/);
    } finally {
      await l.exec('rs3', ['ip', 'addr', 'del', `${VIP}/32`, 'dev', 'lo'], { allowFail: true });
      await l.exec('rs3', ['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_ignore=0', 'net.ipv4.conf.eth0.arp_ignore=0']);
      await l.exec('router', ['ip', 'neigh', 'flush', 'dev', 'eth0'], { allowFail: true });
      await xlvs('rs1', ['realserver', 'teardown', '--all']);
      await xlvs('rs2', ['realserver', 'teardown', '--all']);
    }
    assert.deepEqual((await snapshot('rs1')).addr, before.rs1.addr);
    assert.deepEqual(await snapshot('rs1'), before.rs1);
    assert.deepEqual(await snapshot('rs2'), before.rs2);
    assert.deepEqual(await snapshot('rs3'), before.rs3);
  });

  test('--persist writes sysctl.d, the unit and its enabling link under --root; teardown removes exactly those', async () => {
    const before = await snapshot('rs1');
    const up = await xlvs('rs1', ['realserver', 'setup', '--vip', VIP, '--persist', '--root', persistRoot]);
    assert.equal(up.code, 0, up.stderr);
    const f = (p: string) => path.join(persistRoot, p);
    assert.match(fs.readFileSync(f('etc/sysctl.d/90-xlvs-realserver.conf'), 'utf8'), /^net\.ipv4\.conf\.eth0\.arp_announce = 2$/m);
    assert.match(
      fs.readFileSync(f('etc/systemd/system/xlvs-realserver.service'), 'utf8'),
      /^ExecStart=\/usr\/sbin\/ip addr replace 10\.0\.0\.100\/32 dev lo$/m,
    );
    assert.equal(fs.readlinkSync(f('etc/systemd/system/multi-user.target.wants/xlvs-realserver.service')), '/etc/systemd/system/xlvs-realserver.service');
    assert.match(stateFile('rs1') ?? '', /^\/var\/lib\/xlvs\/realserver\//, 'a persisted set-up keeps its record across reboots');
    const down = await xlvs('rs1', ['realserver', 'teardown', '--all']);
    assert.equal(down.code, 0, down.stderr);
    for (const p of [
      'etc/sysctl.d/90-xlvs-realserver.conf',
      'etc/systemd/system/xlvs-realserver.service',
      'etc/systemd/system/multi-user.target.wants/xlvs-realserver.service',
    ]) {
      assert.equal(fs.existsSync(f(p)), false, `${p} left behind`);
    }
    assert.deepEqual(await snapshot('rs1'), before);
    assert.equal(stateFile('rs1'), undefined);
  });

  test('bad input and conflicts: a message naming the flag and value, exit 2, nothing changed', async () => {
    const l = lab();
    const before = await snapshot('rs3');
    const cases: [string[], RegExp][] = [
      [['realserver', 'setup', '--vip', '10.0.0.256'], /--vip "10\.0\.0\.256": not an IP address/],
      [['realserver', 'setup', '--vip', '224.0.0.5'], /--vip "224\.0\.0\.5": not a usable unicast address/],
      [['realserver', 'setup'], /--vip is required/],
      [['realserver', 'setup', '--vip', VIP, '--method', 'arptables'], /--method "arptables": not a method \(known: sysctl, arp-rules\)/],
      [['realserver', 'setup', '--vip', VIP, '--dev', 'nope0'], /--dev "nope0": no such interface/],
      [['realserver', 'setup', '--vip', VIP, '--dev', 'lo'], /--dev "lo"/],
      [['realserver', 'setup', '--vip', VIP, '--root', 'relative/dir'], /--root "relative\/dir": not an absolute path/],
      [['realserver', 'teardown'], /give --vip V \(repeatable\) or --all/],
      [['realserver', 'check', '--vip', VIP, '--port', '0'], /--port "0": not an integer in 1\.\.65535/],
      [['realserver', 'check', '--vip', VIP, '--director', 'director'], /--director "director": not an IP address/],
      [['router-arp', '--vip', VIP, '--mac', 'zz:00'], /--mac "zz:00": not a MAC address/],
      [['router-arp', '--vip', VIP, '--interface', 'nope0'], /--interface "nope0": no such interface/],
      [['doctor', '--config', '/nonexistent.yaml'], /--config "\/nonexistent\.yaml": cannot read/],
    ];
    for (const [args, re] of cases) {
      const r = await xlvs('rs3', args);
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
    }

    // A table of that name someone else made.
    await l.exec('rs3', ['nft', 'add', 'table', 'arp', 'xlvs_rs']);
    const withTable = await snapshot('rs3');
    const t = await xlvs('rs3', ['realserver', 'setup', '--vip', VIP, '--method', 'arp-rules']);
    assert.equal(t.code, 2, t.stderr);
    assert.match(t.stderr, /table arp xlvs_rs already exists and was not made by xlvs here/);
    assert.deepEqual(await snapshot('rs3'), withTable);
    await l.exec('rs3', ['nft', 'delete', 'table', 'arp', 'xlvs_rs']);

    // The VIP already on the NIC: this host would answer ARP for it whatever setup did.
    await l.exec('rs3', ['ip', 'addr', 'add', `${VIP}/32`, 'dev', 'eth0']);
    const withVip = await snapshot('rs3');
    const v = await xlvs('rs3', ['realserver', 'setup', '--vip', VIP]);
    assert.equal(v.code, 2, v.stderr);
    assert.match(v.stderr, /--vip 10\.0\.0\.100: already on eth0 \(10\.0\.0\.100\/32\)/);
    assert.deepEqual(await snapshot('rs3'), withVip);
    await l.exec('rs3', ['ip', 'addr', 'del', `${VIP}/32`, 'dev', 'eth0']);

    // A method change on top of an existing set-up is refused until it is torn down.
    assert.equal((await xlvs('rs3', ['realserver', 'setup', '--vip', VIP])).code, 0);
    const setUp = await snapshot('rs3');
    const m = await xlvs('rs3', ['realserver', 'setup', '--vip', VIP2, '--method', 'arp-rules']);
    assert.equal(m.code, 2, m.stderr);
    assert.match(m.stderr, /--method arp-rules: 10\.0\.0\.100 already set up here with --method sysctl/);
    assert.deepEqual(await snapshot('rs3'), setUp);
    assert.equal((await xlvs('rs3', ['realserver', 'teardown', '--all'])).code, 0);
    assert.deepEqual(await snapshot('rs3'), before);
  });

  test('not root: a clear message, exit 1, nothing changed', async () => {
    const l = lab();
    const before = await snapshot('rs3');
    for (const args of [
      ['realserver', 'setup', '--vip', VIP],
      ['realserver', 'teardown', '--all'],
      ['realserver', 'check', '--vip', VIP],
    ]) {
      const r = await l.exec('rs3', ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', l.xlvsBin(), ...args], { allowFail: true });
      assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /needs root/);
    }
    // Readable by the unprivileged user, so the refusal is about root and not about the file.
    const cfg = path.join(persistRoot, 'doctor.yaml');
    fs.chmodSync(persistRoot, 0o755);
    fs.writeFileSync(cfg, `interface: eth0\nservices:\n  - { vip: ${VIP}, port: 80, protocol: tcp, reals: [{ address: ${realAddress(1)} }] }\n`, {
      mode: 0o644,
    });
    const d = await l.exec('dir', ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', l.xlvsBin(), 'doctor', '--config', cfg], { allowFail: true });
    assert.equal(d.code, 1, d.stderr);
    assert.match(d.stderr, /xlvs doctor needs root/);
    assert.deepEqual(await snapshot('rs3'), before);
  });

  test('router-arp: the printed Linux command pins the VIP to the director on the router', async () => {
    const l = lab();
    const r = await l.exec('dir', [l.xlvsBin(), 'router-arp', '--vip', VIP, '--interface', 'eth0', '--router-dev', 'eth0']);
    const line = `ip neigh replace ${VIP} lladdr ${l.macs.dir} dev eth0 nud permanent`;
    assert.ok(r.stdout.split('\n').includes(line), r.stdout);
    assert.match(r.stdout, new RegExp(`arp ${VIP.replace(/\./g, '\\.')} [0-9a-f]{4}\\.[0-9a-f]{4}\\.[0-9a-f]{4} ARPA`));
    assert.match(r.stdout, /the router is not yours/);
    const cfg = l.writeDirectorConfig([{ port: 80, protocol: 'tcp', weights: [1] }], 'router-arp.yaml');
    const viaConfig = await l.exec('dir', [l.xlvsBin(), 'router-arp', '--config', cfg, '--json']);
    assert.deepEqual((JSON.parse(viaConfig.stdout) as { vips: string[]; mac: string }).mac, l.macs.dir);
    try {
      await l.exec('router', line.split(' '));
      const n = JSON.parse((await l.exec('router', ['ip', '-j', 'neigh', 'show', VIP, 'dev', 'eth0'])).stdout) as { lladdr: string; state: string[] }[];
      assert.deepEqual(
        n.map((e) => [e.lladdr, e.state]),
        [[l.macs.dir, ['PERMANENT']]],
      );
    } finally {
      await l.exec('router', ['ip', 'neigh', 'del', VIP, 'dev', 'eth0'], { allowFail: true });
    }
  });
});
