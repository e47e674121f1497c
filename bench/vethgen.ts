// SPDX-License-Identifier: Apache-2.0
// vethgen.ts: the generator side of the veth benchmark, run inside the generator namespace: live-frames traffic out, returned frames counted.

import { objectPath } from '../src/adapters/datapath';
import { native } from '../src/adapters/native';

interface Args {
  ifname: string;
  flows: number;
  ms: number;
  frame: Buffer;
}

function parseArgs(argv: string[]): Args {
  const get = (k: string) => {
    const i = argv.indexOf(`--${k}`);
    if (i < 0 || i + 1 >= argv.length) throw new Error(`vethgen: --${k} is required`);
    return argv[i + 1]!;
  };
  return { ifname: get('ifname'), flows: Number(get('flows')), ms: Number(get('ms')), frame: Buffer.from(get('frame'), 'hex') };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv);
  const n = native();
  const gen = await n.BpfObject.open(objectPath('bench_gen'));
  const sink = await n.BpfObject.open(objectPath('bench_sink'));
  const link = n.XdpLink.attach(sink.programFd('bench_sink'), a.ifname, 'native');
  try {
    const ctl = gen.map('bench_gen_ctl');
    ctl.update(u32(0), u64(a.flows));
    const counter = sink.map('bench_sink_count');
    const ncpu = n.numPossibleCpus();
    const received = () => {
      const buf = counter.lookup(u32(0))!;
      let total = 0n;
      for (let c = 0; c < ncpu; c++) total += buf.readBigUInt64LE(c * 8);
      return Number(total);
    };
    const burst = { data: a.frame, repeat: 1 << 16, live: true, batchSize: 64, ingressIfindex: link.ifindex };
    const fd = gen.programFd('bench_gen');
    await n.testRun(fd, burst); // warm up: ARP-free path, page pool, the director's tables
    await new Promise((r) => setTimeout(r, 100));
    const before = received();
    let sent = 0;
    const t0 = process.hrtime.bigint();
    while (Number(process.hrtime.bigint() - t0) / 1e6 < a.ms) {
      await n.testRun(fd, burst);
      sent += burst.repeat;
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await new Promise((r) => setTimeout(r, 200)); // frames still in the veth rings
    process.stdout.write(`${JSON.stringify({ sent, received: received() - before, seconds })}\n`);
  } finally {
    link.detach();
    gen.close();
    sink.close();
  }
}

main().catch((e) => {
  process.stderr.write(`vethgen: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
