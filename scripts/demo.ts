// SPDX-License-Identifier: Apache-2.0
// demo.ts: `npm run demo`: builds the namespace DR lab, runs xlvs with weights 3:2:1, sends HTTP and UDP traffic from the client and prints the split and the director's status.

import { formatSplitTable, splitRows } from '../src/lab/drcheck';
import { ADDR, type ClientResult, cleanupPrefix, DrLab, realAddress, type ServiceSpec } from '../src/lab/drnet';

const WEIGHTS = [3, 2, 1];
const TCP_CONNS = 600;
const UDP_DATAGRAMS = 300;

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function problemsOf(what: string, r: ClientResult, expected: number, reals: string[]): string[] {
  const p: string[] = [];
  if (r.ok !== expected) p.push(`${what}: ${r.ok}/${expected} answered; failures: ${JSON.stringify(r.errors)}`);
  const silent = reals.filter((n) => !r.counts[n]);
  if (silent.length) p.push(`${what}: no replies from ${silent.join(', ')}`);
  return p;
}

const USAGE = 'usage: demo [--prefix P] | --cleanup P  (--cleanup removes what a lab run that is gone left under prefix P)';

/** [--prefix P] names the lab's namespaces; --cleanup P removes a dead run's recorded leftovers and exits. */
function parseArgs(argv: string[]): { prefix?: string; cleanup?: string } {
  const out: { prefix?: string; cleanup?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if ((a === '--prefix' || a === '--cleanup') && v !== undefined) {
      out[a === '--prefix' ? 'prefix' : 'cleanup'] = v;
      i++;
    } else {
      throw new Error(`${JSON.stringify(a)} is not an option\n${USAGE}`);
    }
  }
  return out;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('demo: needs root (network namespaces, XDP, bpffs)\n');
    return 1;
  }
  const args = parseArgs(process.argv.slice(2));
  if (args.cleanup !== undefined) {
    const removed = cleanupPrefix(args.cleanup);
    say(removed.length ? `removed ${removed.join(' ')}` : `no namespaces left under ${args.cleanup}`);
    return 0;
  }
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
  } catch (e) {
    problems.push((e as Error).message);
  } finally {
    await lab.teardown();
  }
  say();
  if (problems.length) {
    say('demo FAILED:');
    for (const p of problems) say(`  - ${p}`);
    return 1;
  }
  say('demo OK');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`demo: ${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
