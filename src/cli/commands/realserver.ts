// SPDX-License-Identifier: Apache-2.0
// realserver.ts: `xlvs realserver setup|teardown|check`: put VIPs on lo with ARP kept quiet, undo exactly that, and check a real server is ready for LVS-DR.

import * as path from 'node:path';
import type { Command } from 'commander';
import { interfaceExists, interfaceInfo, requireRoot } from '../../adapters/host';
import { applyPlan, defaultDevice, loadState, netnsKey, nftInstalled, probeMtu, readHost, readListeners, statePath } from '../../adapters/realserver';
import { RuntimeError, UsageError } from '../../core/errors';
import { type CheckInput, evaluateCheck, renderCheckText } from '../../core/realserver-check';
import type { Method } from '../../core/realserver-host';
import { describeStep, type Plan, planSetup, planTeardown } from '../../core/realserver-setup';
import { parseAddress, parseIfName, parseIntFlag, parseMethod, parseVips } from '../options';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** --dev, or the NIC the default route leaves by; must exist. */
function deviceFrom(dev: string | undefined): string {
  const d = dev !== undefined ? parseIfName('--dev', dev) : defaultDevice();
  if (d === undefined) throw new UsageError('--dev: no default route to tell the NIC by; give --dev');
  if (d === 'lo') throw new UsageError('--dev "lo": the VIPs go on lo; --dev names the NIC facing the director');
  if (!interfaceExists(d)) throw new UsageError(`--dev ${JSON.stringify(d)}: no such interface`);
  return d;
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function printPlan(plan: Plan, what: string, stateFile: string | null): void {
  out(`# xlvs realserver ${what} --dry-run: ${plan.steps.length ? 'would run, in order:' : 'nothing to change'}`);
  for (const s of plan.steps) out(describeStep(s));
  for (const n of plan.notes) out(`# note: ${n}`);
  if (plan.steps.length) out(stateFile ? `# and record what it changed in ${stateFile}` : '# and remove the state file: nothing of xlvs would be left');
}

function printNotes(plan: Plan): void {
  for (const n of plan.notes) out(`xlvs: note: ${n}`);
}

interface SetupOpts {
  vip?: string[];
  method?: string;
  dev?: string;
  dryRun?: boolean;
  persist?: boolean;
  root: string;
}
interface TeardownOpts {
  vip?: string[];
  all?: boolean;
  dryRun?: boolean;
}
interface CheckOpts {
  vip?: string[];
  dev?: string;
  director?: string;
  port?: string;
  protocol: string;
  mtu?: string;
  json?: boolean;
}

function setup(o: SetupOpts): void {
  const vips = parseVips(o.vip, '--vip', true);
  const given: Method | undefined = o.method !== undefined ? parseMethod(o.method) : undefined;
  if (!path.isAbsolute(o.root)) throw new UsageError(`--root ${JSON.stringify(o.root)}: not an absolute path`);
  if (o.dev !== undefined) deviceFrom(o.dev);
  requireRoot('xlvs realserver setup');
  const key = netnsKey();
  const prior = loadState(key)?.state ?? null;
  // Adding a VIP to an existing set-up keeps its method and NIC unless told otherwise.
  const method: Method = given ?? prior?.method ?? 'sysctl';
  const dev = deviceFrom(o.dev ?? prior?.dev);
  if (method === 'arp-rules' && !nftInstalled()) throw new RuntimeError('--method arp-rules needs nft (apt-get install nftables); nothing changed');
  const root = path.resolve(o.root);
  const host = readHost(dev, o.persist || prior?.persist ? (prior?.persist?.root ?? root) : null);
  const plan = planSetup(host, prior, { vips, method, dev, persist: !!o.persist, root });
  const file = plan.state ? statePath(key, plan.state.persist !== null) : null;
  if (o.dryRun) return printPlan(plan, 'setup', file);
  applyPlan(plan, key, prior, (l) => out(l));
  printNotes(plan);
  const st = plan.state!;
  out(
    plan.steps.length
      ? `xlvs: ${vips.join(', ')} set up on lo (method ${st.method}, ${st.dev}${st.persist ? `, persisted under ${st.persist.root}` : ''}); teardown record in ${file}`
      : `xlvs: nothing to change: ${vips.join(', ')} already set up (method ${st.method}, ${st.dev})`,
  );
}

function teardown(o: TeardownOpts): void {
  if (o.all && o.vip?.length) throw new UsageError('give --vip or --all, not both');
  if (!o.all && !o.vip?.length) throw new UsageError('give --vip V (repeatable) or --all');
  const vips = o.all ? ('all' as const) : parseVips(o.vip, '--vip', true);
  requireRoot('xlvs realserver teardown');
  const key = netnsKey();
  const prior = loadState(key)?.state ?? null;
  const host = readHost(prior?.dev, prior?.persist ? prior.persist.root : null);
  const plan = planTeardown(host, prior, vips);
  const file = plan.state ? statePath(key, plan.state.persist !== null) : null;
  if (o.dryRun) return printPlan(plan, 'teardown', file);
  applyPlan(plan, key, prior, (l) => out(l));
  printNotes(plan);
  if (plan.steps.length || plan.state !== prior) {
    out(plan.state ? `xlvs: torn down; still set up: ${plan.state.vips.join(', ')}` : 'xlvs: torn down; nothing of xlvs is left here');
  }
}

async function check(o: CheckOpts): Promise<void> {
  const vips = parseVips(o.vip, '--vip', true);
  if (o.protocol !== 'tcp' && o.protocol !== 'udp') throw new UsageError(`--protocol ${JSON.stringify(o.protocol)}: must be tcp or udp`);
  const input: CheckInput = {
    vips,
    dev: deviceFrom(o.dev),
    protocol: o.protocol,
    ...(o.director !== undefined ? { director: parseAddress('--director', o.director, true) } : {}),
    ...(o.port !== undefined ? { port: parseIntFlag('--port', o.port, 1, 65535) } : {}),
    ...(o.mtu !== undefined ? { mtu: parseIntFlag('--mtu', o.mtu, 68, 65535) } : {}),
  };
  requireRoot('xlvs realserver check');
  const host = readHost(input.dev, null);
  const listeners = input.port !== undefined ? readListeners(input.protocol) : undefined;
  const mtu = input.director ? await probeMtu(input.director, interfaceInfo(input.dev).mtu, input.dev) : undefined;
  const results = evaluateCheck(host, input, { ...(listeners ? { listeners } : {}), ...(mtu ? { mtu } : {}) });
  const ok = !results.some((r) => r.status === 'fail');
  if (o.json) process.stdout.write(`${JSON.stringify({ vips, dev: input.dev, ok, checks: results }, null, 2)}\n`);
  else process.stdout.write(renderCheckText(results, `xlvs realserver check: ${vips.join(', ')} on ${input.dev}`));
  if (!ok) process.exitCode = 1;
}

export function registerRealserver(program: Command): void {
  const cmd = program.command('realserver').description('set up, tear down and check an LVS-DR real server (run on the real server)');
  cmd
    .command('setup')
    .description('put each VIP on lo as /32 (IPv6: /128) and keep this host quiet on ARP for it (silent in neighbour discovery for IPv6); idempotent')
    .option('--vip <ip>', 'a VIP, IPv4 or IPv6 (repeatable)', collect)
    .option('--method <m>', 'sysctl (arp_ignore=1, arp_announce=2; the default) or arp-rules (nft table arp xlvs_rs)')
    .option('--dev <if>', "the NIC facing the director (default: the default route's)")
    .option('--dry-run', 'print what would be done, change nothing')
    .option('--persist', 'also write sysctl.d / nft / systemd files so it survives a reboot')
    .option('--root <dir>', "where --persist writes its files (an image's root)", '/')
    .action((o: SetupOpts) => setup(o));
  cmd
    .command('teardown')
    .description('undo what setup did for these VIPs, and nothing else')
    .option('--vip <ip>', 'a VIP (repeatable)', collect)
    .option('--all', 'every VIP xlvs set up here')
    .option('--dry-run', 'print what would be done, change nothing')
    .action((o: TeardownOpts) => teardown(o));
  cmd
    .command('check')
    .description('check each LVS-DR requirement, with a fix for each failure; exit 1 if any fails')
    .option('--vip <ip>', 'a VIP (repeatable)', collect)
    .option('--dev <if>', "the NIC facing the director (default: the default route's)")
    .option('--director <ip>', "the director's address: the default route must not use it; MTU is probed towards it")
    .option('--port <n>', 'a service port that must have a listener on the VIP or any address')
    .option('--protocol <p>', 'tcp or udp, for --port', 'tcp')
    .option('--mtu <n>', "the director's MTU, to compare with the NIC's")
    .option('--json', 'machine-readable output')
    .action((o: CheckOpts) => check(o));
  for (const c of cmd.commands) c.exitOverride();
  cmd.exitOverride();
}
