// SPDX-License-Identifier: Apache-2.0
// trace.ts: `xlvs trace VIP:PORT --client IP:PORT`: which real a flow goes to and why, from the pinned maps (interface from the daemon).

import { type Command, Option } from 'commander';
import { DEFAULT_SOCKET } from '../../adapters/api';
import { pinDir, requireRoot } from '../../adapters/host';
import { PinnedDatapath } from '../../adapters/pinned';
import { pinnedLookups } from '../../adapters/trace';
import { RuntimeError, UsageError } from '../../core/errors';
import { canonicalIp, formatHostPort, isIPv4, isIPv6, splitHostPort } from '../../core/net/addr';
import { serviceId } from '../../core/net/label';
import { protoNumber } from '../../core/net/proto';
import { trace, traceText } from '../../core/trace';
import { optionalServiceFrom } from '../address';
import { interfaceFrom } from '../options';
import { api } from '../socket';

/** "A.B.C.D:PORT" or "[V6]:PORT" (canonical text back), the flag named in the error. */
export function hostPort(flag: string, v: string): { addr: string; port: number } {
  const hp = splitHostPort(v);
  const port = hp?.port !== undefined && /^\d{1,5}$/.test(hp.port) ? Number(hp.port) : NaN;
  const ok = hp && (v.startsWith('[') ? isIPv6(hp.host) : isIPv4(hp.host)) && port >= 1 && port <= 65535;
  if (!ok) throw new UsageError(`${flag} ${JSON.stringify(v)}: expected IPv4:PORT or [IPv6]:PORT with a port in 1..65535`);
  return { addr: canonicalIp(hp.host), port };
}

type TraceOpts = {
  vip?: string;
  tcpService?: string;
  udpService?: string;
  client: string;
  protocol?: string;
  config?: string;
  interface?: string;
  socket: string;
  json?: boolean;
};

/** The interface to read: --config or --interface when given, else the one a running daemon reports. */
export async function traceInterface(o: TraceOpts): Promise<string> {
  if (o.config || o.interface) return interfaceFrom(o);
  try {
    return (await api<{ interface: string }>(o, 'GET', '/v1/config')).interface;
  } catch (e) {
    throw new UsageError(`give --config FILE or --interface NAME: no daemon answered at ${o.socket} (${e instanceof Error ? e.message : String(e)})`);
  }
}

export function registerTrace(program: Command): void {
  program
    .command('trace')
    .description(
      'which real a flow goes to and why: its connection-table entry, else the service (exact port, then port 0), its persistence template and its scheduler',
    )
    .argument('[VIP:PORT]', 'the service, e.g. 10.0.0.100:80 or [2001:db8::100]:80 (or -t/-u)')
    .requiredOption('--client <addr:port>', 'the client address and source port as the director sees them (IPv6 as [ADDR]:PORT)')
    .option('-t, --tcp-service <vip:port>', 'the TCP service VIP:PORT, as ipvsadm -t')
    .option('-u, --udp-service <vip:port>', 'the UDP service VIP:PORT, as ipvsadm -u')
    .option('--protocol <proto>', 'tcp or udp, for a positional VIP:PORT (default tcp)')
    .addOption(new Option('--vip <addr:port>', 'deprecated alias: give VIP:PORT').hideHelp())
    .option('-c, --config <file>', 'the config the director runs with (for its interface)')
    .option('-i, --interface <name>', "the interface the director is attached to (default: the running daemon's)")
    .option('--socket <path>', "the daemon's API socket, asked for the interface when neither --config nor --interface is given", DEFAULT_SOCKET)
    .option('--json', 'machine-readable output')
    .action(async (pos: string | undefined, o: TraceOpts) => {
      // The old --vip took VIP:PORT, the same value as the positional; it stays an alias of it for one release.
      if (pos !== undefined && o.vip !== undefined) throw new UsageError('the service is given twice (VIP:PORT and --vip): give it once, as VIP:PORT');
      const svc = optionalServiceFrom(pos ?? o.vip, { ...o, vip: undefined });
      if (!svc) throw new UsageError('no service given: name it as VIP:PORT (e.g. 10.0.0.100:80), or with -t/-u VIP:PORT');
      if (svc.port === 0)
        throw new UsageError(`VIP:PORT ${formatHostPort(svc.vip, 0)}: trace the port a client connects to; the lookup falls back to a port-0 service itself`);
      const client = hostPort('--client', o.client);
      const ifname = await traceInterface(o);
      requireRoot('xlvs trace');
      const dp = new PinnedDatapath(pinDir(ifname));
      const l = pinnedLookups(dp);
      try {
        const t = trace({ client: client.addr, cport: client.port, vip: svc.vip, vport: svc.port, proto: protoNumber(svc.protocol) }, l);
        if (t.verdict.kind === 'no-service') throw new RuntimeError(`no service ${serviceId(svc)} on ${ifname}: unknown VIP or port`);
        process.stdout.write(o.json ? `${JSON.stringify(t, null, 2)}\n` : traceText(t));
      } finally {
        l.close();
        dp.close();
      }
    });
}
