// SPDX-License-Identifier: Apache-2.0
// demo.ts: `npm run demo`: builds the namespace DR lab, runs xlvs with weights 3:2:1, sends HTTP and UDP traffic, prints the split, the status and what to try next; `--keep` leaves it running.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatSplitTable, splitRows } from '../src/lab/drcheck';
import { ADDR, type ClientResult, cleanupPrefix, DrLab, realAddress, type ServiceSpec, stopKeptOwner } from '../src/lab/drnet';

const WEIGHTS = [3, 2, 1];
const TCP_CONNS = 600;
const UDP_DATAGRAMS = 300;

// A kept run writes to the terminal until it has printed what to try, then to its log file (nobody reads its stdout).
let sink: (line: string) => void = (line) => process.stdout.write(line);
function say(line = ''): void {
  sink(`${line}\n`);
}

/** The line after which a kept run's parent stops relaying and exits, leaving the run in the background. */
const KEPT = '@@xlvs-demo-kept@@';

function problemsOf(what: string, r: ClientResult, expected: number, reals: string[]): string[] {
  const p: string[] = [];
  if (r.ok !== expected) p.push(`${what}: ${r.ok}/${expected} answered; failures: ${JSON.stringify(r.errors)}`);
  const silent = reals.filter((n) => !r.counts[n]);
  if (silent.length) p.push(`${what}: no replies from ${silent.join(', ')}`);
  return p;
}

const USAGE =
  'usage: demo [--prefix P] [--keep] | --cleanup P\n' +
  '  --keep leaves the lab and a daemon running; --cleanup removes a kept lab, or what a run that is gone left';

interface Args {
  prefix?: string;
  cleanup?: string;
  keep?: boolean;
  /** Internal: this is the background run of --keep. */
  keptChild?: boolean;
}

/** [--prefix P] names the lab's namespaces; --cleanup P removes a kept lab or a dead run's recorded leftovers and exits. */
function parseArgs(argv: string[]): Args {
  const out: Args = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if ((a === '--prefix' || a === '--cleanup') && v !== undefined) {
      out[a === '--prefix' ? 'prefix' : 'cleanup'] = v;
      i++;
    } else if (a === '--keep') out.keep = true;
    else if (a === '--kept-child') out.keptChild = true;
    else throw new Error(`${JSON.stringify(a)} is not an option\n${USAGE}`);
  }
  return out;
}

/**
 * --keep: the demo runs again detached, owning the lab (its processes' pipes, its signal handlers); this process
 * relays its output until it has printed what to try next, then leaves it running.
 */
function runKept(argv: string[]): Promise<number> {
  const child = spawn(process.execPath, [__filename, ...argv, '--kept-child'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve) => {
    let buf = '';
    let ok = false;
    const onData = (c: Buffer): void => {
      buf += c.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === KEPT) {
          child.stdout.destroy();
          child.stderr.destroy();
          child.unref();
          resolve(ok ? 0 : 1);
          return;
        }
        if (line === 'demo OK') ok = true;
        process.stdout.write(`${line}\n`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c: Buffer) => process.stderr.write(c));
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

/** What to try on the kept lab: one wrapper enters the director's namespace with its bpffs and the daemon's socket. */
function keptHelp(lab: DrLab, metrics: string): string[] {
  const repo = path.resolve(__dirname, '..', '..');
  const wrapper = path.join(lab.workDir, 'in-dir');
  fs.writeFileSync(
    wrapper,
    `#!/bin/sh\n# Runs a command in the demo director's namespace, its bpffs mounted, xlvs on PATH, the daemon's socket set.\n` +
      `export PATH="${repo}/bin:$PATH" XLVS_SOCKET="${lab.daemonSocket()}"\n` +
      `exec ip netns exec ${lab.prefix}dir sh -c 'mount --bind "$0" /sys/fs/bpf && exec "$@"' "${lab.bpffsDir}" "$@"\n`,
    { mode: 0o755 },
  );
  const D = wrapper;
  return [
    `== the lab and an xlvs daemon keep running (prefix ${lab.prefix}) ==`,
    `Try, as root (${D} runs a command inside the director's namespace):`,
    `  ${D} xlvsadm -Ln                     # ipvsadm's view: services, reals, weights, connections`,
    `  ${D} xlvsadm -Lnc | head             # the connection table`,
    `  ${D} xlvs list --stats               # counters per service and real`,
    `  ${D} xlvs status --interface eth0    # what the pinned datapath holds, with verifier costs`,
    `  ${D} xlvs top                        # live view (q quits)`,
    `  ${D} xlvs trace --interface eth0 --vip ${ADDR.vip}:80 --client ${ADDR.client}:40000   # where a flow goes, and why`,
    `  ${D} xlvs real edit --vip ${ADDR.vip} --port 80 --address ${realAddress(3)} --weight 6   # a runtime change`,
    `  ${D} curl -s http://${metrics}/metrics | grep '^xlvs_connections_total'   # Prometheus`,
    `  ${D} curl -s http://${metrics}/ > /tmp/xlvs-status.html                  # the status page`,
    `  ip netns exec ${lab.prefix}client curl -s http://${ADDR.vip}/                # a request through the director`,
    `Remove it all: npm run demo -- --cleanup ${lab.prefix.replace(/-$/, '')}`,
  ];
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('demo: needs root (network namespaces, XDP, bpffs)\n');
    return 1;
  }
  const args = parseArgs(process.argv.slice(2));
  if (args.cleanup !== undefined) {
    const owner = await stopKeptOwner(args.cleanup);
    if (owner !== null) say(`the kept demo (pid ${owner}) tore its lab down`);
    const removed = cleanupPrefix(args.cleanup);
    say(removed.length ? `removed ${removed.join(' ')}` : `no namespaces left under ${args.cleanup}`);
    return 0;
  }
  if (args.keep && !args.keptChild) return runKept(process.argv.slice(2));
  const problems: string[] = [];
  say('== building the LVS-DR lab ==');
  say(
    `client ${ADDR.client} -> router ${ADDR.routerOutside}/${ADDR.router} -> switch -> director ${ADDR.director}, reals ${[1, 2, 3].map(realAddress).join(', ')}; VIP ${ADDR.vip}`,
  );
  const lab = await DrLab.create({ reals: 3, handleSignals: true, log: (l) => say(`  ${l}`), ...(args.prefix !== undefined ? { prefix: args.prefix } : {}) });
  try {
    const reals = lab.realNames();
    const services: ServiceSpec[] = [
      { port: 80, protocol: 'tcp', scheduler: 'mh', weights: WEIGHTS },
      { port: 9000, protocol: 'udp', scheduler: 'mh', weights: WEIGHTS },
    ];
    const config = lab.writeDirectorConfig(services);
    say();
    say(`== director config (${config}) ==`);
    say(lab.directorConfig(services).trimEnd());
    await lab.installReplyPathCounters();
    say();
    say('== starting xlvs up in the director namespace ==');
    await lab.startDirector(config, 30_000);

    say();
    say(`== ${TCP_CONNS} HTTP requests, each on a fresh connection, from the client to ${ADDR.vip}:80 ==`);
    const tcp = await lab.runClient('tcp', { port: 80, count: TCP_CONNS, concurrency: 20, timeoutMs: 5000 });
    say(formatSplitTable(`TCP: ${tcp.ok}/${TCP_CONNS} answered in ${tcp.durationMs} ms`, splitRows(reals, WEIGHTS, tcp.counts)));
    if (tcp.failures) say(`failures: ${JSON.stringify(tcp.errors)}`);
    problems.push(...problemsOf('TCP', tcp, TCP_CONNS, reals));

    say();
    say(`== ${UDP_DATAGRAMS} UDP datagrams from distinct source ports to ${ADDR.vip}:9000 ==`);
    const udp = await lab.runClient('udp', { port: 9000, count: UDP_DATAGRAMS, concurrency: 20, timeoutMs: 2000, retries: 1 });
    say(
      formatSplitTable(
        `UDP: ${udp.ok}/${UDP_DATAGRAMS} answered in ${udp.durationMs} ms${udp.retried ? ` (${udp.retried} after a resend)` : ''}`,
        splitRows(reals, WEIGHTS, udp.counts),
      ),
    );
    if (udp.failures) say(`failures: ${JSON.stringify(udp.errors)}`);
    problems.push(...problemsOf('UDP', udp, UDP_DATAGRAMS, reals));

    say();
    say('== reply path (nft counters of packets from the VIP) ==');
    const c = await lab.readReplyPathCounters();
    for (const r of reals) say(`  at the router, from ${r}'s MAC: ${c.routerFromReal[r]}`);
    say(`  at the router, from any other MAC: ${c.routerFromOther}`);
    say(`  at the director's eth0 ingress: ${c.directorIngress}`);
    if (c.routerFromOther !== 0 || c.directorIngress !== 0) problems.push('replies did not all go real server -> router');

    say();
    say('== xlvs status ==');
    const st = await lab.xlvs(['status', '--interface', 'eth0'], { allowFail: true, timeoutMs: 20_000 });
    say((st.stdout + st.stderr).trimEnd());
    if (st.code !== 0) problems.push(`xlvs status exited ${st.code}`);

    say();
    say('== stopping the director ==');
    const exit = await lab.stopDirector(10_000);
    say(`  xlvs exited ${exit.code ?? exit.signal}${exit.killed ? ' (killed after 10 s)' : ''}`);
    if (exit.code !== 0) problems.push(`xlvs up exited ${exit.code ?? exit.signal}`);
    if (args.keptChild && !problems.length) {
      // What an operator runs: the daemon, with its API socket and the status page on the director's loopback.
      const metrics = '127.0.0.1:9258';
      fs.appendFileSync(config, `metrics:\n  listen: "${metrics}"\n`);
      say();
      say('== starting xlvs daemon for you to try ==');
      await lab.startDaemon(config);
      say();
      for (const l of keptHelp(lab, metrics)) say(l);
      lab.markKept();
    }
  } catch (e) {
    problems.push((e as Error).message);
  } finally {
    if (!args.keptChild || problems.length) await lab.teardown();
  }
  say();
  if (problems.length) {
    say('demo FAILED:');
    for (const p of problems) say(`  - ${p}`);
    return 1;
  }
  say('demo OK');
  if (args.keptChild) {
    say(KEPT);
    const log = path.join(lab.workDir, 'demo.log');
    sink = (line) => fs.appendFileSync(log, line);
    // Until `--cleanup` sends SIGTERM: the lab's signal hook tears everything down and exits.
    await new Promise<never>(() => setInterval(() => undefined, 1 << 30));
  }
  say(nextSteps());
  return 0;
}

/** The end of a plain run: what to try next. */
function nextSteps(): string {
  return [
    '',
    'Next: `npm run demo -- --keep` leaves this lab and an xlvs daemon running to try xlvsadm -Ln, xlvs top,',
    'xlvs trace and the status page on it (it prints the commands); README "Commands" has the rest.',
  ].join('\n');
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`demo: ${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
