// SPDX-License-Identifier: Apache-2.0
// rs-server.ts: the real-server process of the lab: an HTTP server and a UDP echo-of-name server that both answer with this real's name.

import * as dgram from 'node:dgram';
import * as http from 'node:http';

interface Args {
  name: string;
  bind: string;
  httpPort: number;
  udpPort: number;
  /** Addresses (the VIPs) that get a UDP socket of their own, so replies to them leave from them. */
  udpAddresses: string[];
  /** Also serve HTTP on [::] (IPv6 only, beside the IPv4 bind): a dual-stack lab's IPv6 service. */
  http6: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { name: '', bind: '0.0.0.0', httpPort: 80, udpPort: 9000, udpAddresses: [], http6: false };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    const val = argv[i + 1];
    if (val === undefined) throw new Error(`missing value for ${key}`);
    i++;
    switch (key) {
      case '--name':
        a.name = val;
        break;
      case '--bind':
        a.bind = val;
        break;
      case '--http-port':
        a.httpPort = Number(val);
        break;
      case '--udp-port':
        a.udpPort = Number(val);
        break;
      case '--udp-address':
        a.udpAddresses.push(val);
        break;
      case '--http6':
        a.http6 = val === 'yes';
        break;
      default:
        throw new Error(`unknown option ${key}`);
    }
  }
  if (!a.name) throw new Error('--name is required');
  return a;
}

function main(): void {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`rs-server: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const stats = { http: 0, udp: 0 };
  const body = `${args.name}\n`;

  const handler: http.RequestListener = (req, res) => {
    stats.http++;
    // Drain the request so a client that sends a body still gets a clean close.
    req.resume();
    res.writeHead(200, {
      'Content-Type': 'text/plain',
      'Content-Length': Buffer.byteLength(body),
      'X-Real-Server': args.name,
    });
    res.end(body);
  };
  const server = http.createServer(handler);
  // Long enough for keep-alive clients: Node's agent drops a pooled socket whose server hint is 1 s or less.
  server.keepAliveTimeout = 10000;

  // A reply from a wildcard-bound UDP socket takes the route's source address (the real's own 10.0.0.x), not the
  // VIP the client wrote to, and a client with a connected socket would discard it. Node has no IP_PKTINFO, so each
  // VIP gets its own bound socket; the kernel delivers to the most specific bind, and replies leave from the VIP.
  const udpSockets = [args.bind, ...args.udpAddresses].map((addr) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    sock.on('message', (_msg, rinfo) => {
      stats.udp++;
      sock.send(body.trim(), rinfo.port, rinfo.address);
    });
    return { sock, addr };
  });

  let pending = 1 + udpSockets.length + (args.http6 ? 1 : 0);
  const listening = (): void => {
    if (--pending === 0) {
      process.stdout.write(`${JSON.stringify({ ready: true, name: args.name, http: args.httpPort, udp: args.udpPort })}\n`);
    }
  };
  const fail =
    (what: string) =>
    (err: Error): void => {
      process.stderr.write(`rs-server ${args.name}: ${what}: ${err.message}\n`);
      process.exit(1);
    };
  server.on('error', fail('http'));
  server.listen(args.httpPort, args.bind, listening);
  // The same handler on a second socket: IPv6 only, so it and the IPv4 bind never compete for the port.
  const server6 = args.http6 ? http.createServer(handler) : undefined;
  if (server6) {
    server6.keepAliveTimeout = server.keepAliveTimeout;
    server6.on('error', fail('http6'));
    server6.listen({ port: args.httpPort, host: '::', ipv6Only: true }, listening);
  }
  for (const { sock, addr } of udpSockets) {
    sock.on('error', fail(`udp ${addr}`));
    sock.bind(args.udpPort, addr, listening);
  }

  const stop = (): void => {
    process.stdout.write(`${JSON.stringify({ stopped: true, name: args.name, served: stats })}\n`);
    for (const s of [server, server6]) {
      s?.closeAllConnections();
      s?.close();
    }
    for (const { sock } of udpSockets) sock.close();
    // Exit even if a half-open connection lingers; the lab is tearing down anyway.
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
