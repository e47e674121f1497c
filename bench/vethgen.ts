// SPDX-License-Identifier: Apache-2.0
// vethgen.ts: the generator side of the veth benchmark, run inside the generator namespace: live-frames traffic out, returned frames counted.

import { objectPath } from '../src/adapters/datapath';
import { native } from '../src/adapters/native';

interface Args {
  ifname: string;
  /** Flows to cycle through; 0: every frame a new flow. */
  flows: number;
  /** Where the generator's sequence starts: runs of the all-new mode start past the previous run's end. */
  start: number;
  /** Frames sent before the timed window, not counted in it (the director's tables, the page pool). */
  warm: number;
  /** Pace the warm-up to what the director sends back (the pre-fill of its connection table). */
  paced: boolean;
  /** The timed window; 0: the warm-up only. */
  ms: number;
  frame: Buffer;
}

function parseArgs(argv: string[]): Args {
  const get = (k: string) => {
    const i = argv.indexOf(`--${k}`);
    if (i < 0 || i + 1 >= argv.length) throw new Error(`vethgen: --${k} is required`);
    return argv[i + 1]!;
  };
  const opt = (k: string, d: number) => (argv.includes(`--${k}`) ? Number(get(k)) : d);
  return {
    ifname: get('ifname'),
    flows: Number(get('flows')),
    start: opt('start', 0),
    warm: opt('warm', 1 << 16),
    paced: argv.includes('--paced'),
    ms: Number(get('ms')),
    frame: Buffer.from(get('frame'), 'hex'),
  };
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
  // Each BPF_PROG_TEST_RUN of an XDP program adds it to the kernel's XDP dispatcher and takes it out after, and each
  // change waits out an RCU grace period: on this VM ~2/3 of a 65,536-frame run, so the generator sent in bursts and
  // sat idle between them, and what came back measured the bursts more than the director (bare 1.0 Mpps, now 3-4).
  // A program already in the dispatcher only has its count raised: so the generator is attached too, in generic mode,
  // on the generator namespace's idle lo.
  const held = n.XdpLink.attach(gen.programFd('bench_gen'), 'lo', 'generic');
  try {
    const ctl = gen.map('bench_gen_ctl');
    ctl.update(u32(0), u64(a.flows));
    ctl.update(u32(1), u64(a.start));
    // The template's MACs, which the program writes into every frame (a recycled page may hold a director's rewrite).
    ctl.update(u32(2), Buffer.concat([a.frame.subarray(0, 6), Buffer.alloc(2)]));
    ctl.update(u32(3), Buffer.concat([a.frame.subarray(6, 12), Buffer.alloc(2)]));
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
    // Warm up: page pool, the director's tables. A pass over every flow fills a director's connection table only if
    // none of its frames is dropped, and the generator outruns any director: so a paced warm-up sends a burst no
    // larger than the veth ring at a time, the next one when the director has sent the last one back (or gone 1 ms
    // without sending any). Frames that never came back are written off, so one loss does not make every later burst
    // wait out the idle limit (which made a 1M-flow fill take more than 18 minutes).
    const pace = a.paced ? 128 : burst.repeat;
    let warmSent = 0,
      lost = 0;
    while (warmSent < a.warm) {
      const repeat = Math.min(pace, a.warm - warmSent);
      await n.testRun(fd, { ...burst, repeat });
      warmSent += repeat;
      let last = received(),
        idle = process.hrtime.bigint();
      while (a.paced && last + lost < warmSent && process.hrtime.bigint() - idle < 1_000_000n) {
        const now = received();
        if (now !== last) {
          last = now;
          idle = process.hrtime.bigint();
        }
      }
      if (a.paced) lost = Math.max(lost, warmSent - last);
    }
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
    const seq = Number(ctl.lookup(u32(1))!.readBigUInt64LE(0));
    process.stdout.write(`${JSON.stringify({ sent, received: received() - before, seconds, warm_sent: warmSent, warm_received: before, seq })}\n`);
  } finally {
    held.detach();
    link.detach();
    gen.close();
    sink.close();
  }
}

main().catch((e) => {
  process.stderr.write(`vethgen: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
