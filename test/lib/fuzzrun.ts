// SPDX-License-Identifier: Apache-2.0
// fuzzrun.ts: runs seeded random frames through the XDP program (BPF_PROG_TEST_RUN) and holds every verdict, output and counter to src/core/verdictmodel.ts; shared by test/bpf/fuzz.test.ts and `npm run fuzz`.

import { Datapath } from '../../src/adapters/datapath';
import { native } from '../../src/adapters/native';
import { Provisioner } from '../../src/adapters/provision';
import * as abi from '../../src/core/abi';
import { parseConfig } from '../../src/core/config';
import { schedulable } from '../../src/core/director';
import { FrameFuzzer, type FuzzWorld } from '../../src/core/framefuzz';
import {
  type CompiledWorld,
  compileWorld,
  MODEL_RULES,
  type ModelRule,
  type ModelVerdict,
  modelVerdict,
  outputProblem,
  VERDICT_CLASSES,
  type VerdictClass,
  xdpActionName,
} from '../../src/core/verdictmodel';

export const FUZZ_DIRECTOR_MAC = '02:00:00:00:00:02';
/** keepalived's use_vmac MAC for VRID 51. */
export const FUZZ_VMAC = '00:00:5e:00:01:33';

/*
 * Services of each kind the model tells apart: exact ports (TCP, UDP), port-0 services beside an exact one on the
 * same VIP, and services no real can take (weight 0, no MAC), whose frames are dropped.
 */
const CONFIG = `
interface: eth0
conn_table_size: 262144
services:
  - { vip: 10.0.0.100, port: 80, protocol: tcp, maglev_size: 251, reals: [ { address: 10.0.0.11, weight: 3 }, { address: 10.0.0.12, weight: 1 }, { address: 10.0.0.13, weight: 0 }, { address: 10.0.0.14, weight: 5 } ] }
  - { vip: 10.0.0.100, port: 53, protocol: udp, maglev_size: 251, reals: [ { address: 10.0.0.11, weight: 1 } ] }
  - { vip: 10.0.0.101, port: 80, protocol: tcp, reals: [ { address: 10.0.0.13, weight: 0 }, { address: 10.0.0.14, weight: 1 } ] }
  - { vip: 10.0.0.101, port: 53, protocol: udp, reals: [ { address: 10.0.0.14, weight: 1 } ] }
  - { vip: 10.0.0.102, port: 443, protocol: tcp, scheduler: rr, reals: [ { address: 10.0.0.11, weight: 1 }, { address: 10.0.0.12, weight: 1 } ] }
  - { vip: 10.0.0.102, port: 0, protocol: tcp, persistence: { timeout: 300 }, reals: [ { address: 10.0.0.12, weight: 1 }, { address: 10.0.0.15, weight: 2 } ] }
  - { vip: 10.0.0.103, port: 0, protocol: udp, scheduler: wlc, persistence: { timeout: 60 }, reals: [ { address: 10.0.0.11, weight: 1 }, { address: 10.0.0.15, weight: 1 } ] }
  - { vip: 10.0.0.104, port: 8080, protocol: udp, scheduler: sh, reals: [ { address: 10.0.0.12, weight: 1 } ] }
`;
const REAL_MACS: Record<string, string | null> = {
  '10.0.0.11': '02:00:00:00:00:11',
  '10.0.0.12': '02:00:00:00:00:12',
  '10.0.0.13': '02:00:00:00:00:13',
  '10.0.0.14': null,
  '10.0.0.15': '02:00:00:00:00:15',
};

export interface FuzzSetup {
  dp: Datapath;
  model: CompiledWorld;
  fuzzWorld: FuzzWorld;
  ncpu: number;
}

export async function fuzzSetup(): Promise<FuzzSetup> {
  const cfg = parseConfig(CONFIG);
  const dp = await Datapath.load({ connTableSize: cfg.conn_table_size });
  dp.setDirectorMac(FUZZ_DIRECTOR_MAC, [FUZZ_VMAC]);
  const { services } = new Provisioner(dp).apply(cfg, (a) => REAL_MACS[a] ?? null);
  const model = compileWorld({
    nicMac: FUZZ_DIRECTOR_MAC,
    acceptMacs: [FUZZ_VMAC],
    // Only reals that can take new connections ever get one here: no flow exists before the run.
    services: services.map((s) => ({ vip: s.vip, port: s.port, proto: s.proto, realMacs: s.reals.filter(schedulable).map((r) => r.mac!) })),
  });
  const fuzzWorld: FuzzWorld = {
    directorMacs: [FUZZ_DIRECTOR_MAC, FUZZ_VMAC],
    otherMacs: ['02:00:00:00:00:01', '02:00:00:00:00:03', ...Object.values(REAL_MACS).filter((m): m is string => !!m)],
    services: services.map((s) => ({ vip: s.vip, port: s.port, proto: s.proto })),
    otherAddrs: ['10.0.0.2', '10.0.0.1', '10.0.0.11', '10.0.0.199', '192.0.2.1', '255.255.255.255', '224.0.0.18'],
    clients: Array.from({ length: 32 }, (_, i) => `203.0.113.${i + 1}`),
  };
  return { dp, model, fuzzWorld, ncpu: native().numPossibleCpus() };
}

export interface Mismatch {
  seed: number;
  /** 0-based index of the frame in the seed's sequence. */
  index: number;
  recipe: string;
  frame: string;
  model: { cls: VerdictClass; action: string; why: string };
  datapath: { action: string; output: string };
  problem: string;
}

export interface FuzzResult {
  seed: number;
  frames: number;
  /** Frames per model class. */
  perClass: Record<VerdictClass, number>;
  /** Frames per model rule (which check decided), to show each one is exercised. */
  perRule: Record<ModelRule, number>;
  /** Verdict counter deltas over the run, as the datapath counted them. */
  counters: Record<string, number>;
  /** Frames whose verdict or output differed from the model (the first few kept in full). */
  mismatches: number;
  examples: Mismatch[];
  /** Batches whose counter deltas differed from the model's sums. */
  counterMismatches: string[];
  durationMs: number;
}

export interface FuzzOptions {
  seed: number;
  frames: number;
  /** Frames in flight at once (testRun is async: each runs on a libuv worker thread). */
  concurrency?: number;
  /** Frames between two reads of the verdict counters. */
  batch?: number;
  /** Examples kept in full. */
  keep?: number;
  onProgress?: (done: number, r: FuzzResult) => void;
}

function readVerdicts(s: FuzzSetup): abi.Verdicts {
  return abi.sumPerCpu(abi.verdicts, s.dp.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, s.ncpu);
}

export async function runFuzz(s: FuzzSetup, o: FuzzOptions): Promise<FuzzResult> {
  const concurrency = o.concurrency ?? 64;
  const batch = o.batch ?? 8192;
  const keep = o.keep ?? 10;
  const fuzzer = new FrameFuzzer(s.fuzzWorld, o.seed);
  const prog = s.dp.programFd();
  const nat = native();
  const t0 = process.hrtime.bigint();
  const r: FuzzResult = {
    seed: o.seed,
    frames: 0,
    perClass: Object.fromEntries(VERDICT_CLASSES.map((c) => [c, 0])) as Record<VerdictClass, number>,
    perRule: Object.fromEntries(MODEL_RULES.map((c) => [c, 0])) as Record<ModelRule, number>,
    counters: Object.fromEntries(abi.verdictFields.map((k) => [k, 0])),
    mismatches: 0,
    examples: [],
    counterMismatches: [],
    durationMs: 0,
  };
  let index = 0;
  let before = readVerdicts(s);
  while (index < o.frames) {
    const n = Math.min(batch, o.frames - index);
    // The model's counts for this batch: tx_existing and tx_new are one sum, and so are tx_icmp and pass_icmp_no_flow
    // (which one depends on the connection table).
    const want = {
      pass_not_ipv4: 0,
      pass_not_for_us: 0,
      pass_malformed: 0,
      pass_fragment: 0,
      pass_no_service: 0,
      pass_fragment6: 0,
      pass_ipv6_ext: 0,
      pass_icmp6_no_flow: 0,
      tx: 0,
      drop_no_real: 0,
      icmp: 0,
    };
    const first = index;
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = first + next++;
        const { frame, recipe } = fuzzer.next();
        const v: ModelVerdict = modelVerdict(s.model, frame);
        r.perClass[v.cls]++;
        r.perRule[v.why]++;
        if (v.cls === 'icmp_error' || v.cls === 'pass_icmp_no_flow') want.icmp++;
        else if (v.action === 'XDP_TX') want.tx++;
        else want[v.counters[0] as keyof typeof want]++;
        const out = await nat.testRun(prog, { data: frame, repeat: 1 });
        const action = xdpActionName(out.retval);
        const allowed = action === v.action || (v.orPass && action === 'XDP_PASS');
        const problem = !allowed ? `verdict ${action}, model ${v.action} (${v.cls}: ${v.why})` : outputProblem(s.model, v, frame, out.dataOut);
        if (problem) {
          r.mismatches++;
          if (r.examples.length < keep) {
            r.examples.push({
              seed: o.seed,
              index: i,
              recipe,
              frame: frame.toString('hex'),
              model: { cls: v.cls, action: v.action, why: v.why },
              datapath: { action, output: out.dataOut.toString('hex') },
              problem,
            });
          }
        }
      }
    };
    // Frames are generated in index order: each worker takes the next index and draws its frame synchronously.
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
    index += n;
    const after = readVerdicts(s);
    const d = (k: keyof abi.Verdicts) => Number(after[k] - before[k]);
    for (const k of abi.verdictFields) r.counters[k]! += d(k);
    const got = {
      pass_not_ipv4: d('pass_not_ipv4'),
      pass_not_for_us: d('pass_not_for_us'),
      pass_malformed: d('pass_malformed'),
      pass_fragment: d('pass_fragment'),
      pass_no_service: d('pass_no_service'),
      pass_fragment6: d('pass_fragment6'),
      pass_ipv6_ext: d('pass_ipv6_ext'),
      pass_icmp6_no_flow: d('pass_icmp6_no_flow'),
      tx: d('tx_new') + d('tx_existing') + d('tx_stateless'),
      drop_no_real: d('drop_no_real'),
      icmp: d('tx_icmp') + d('pass_icmp_no_flow'),
    };
    const bad = (Object.keys(want) as (keyof typeof want)[]).filter((k) => want[k] !== got[k]);
    if (d('aborted') !== 0 || bad.length) {
      r.counterMismatches.push(
        `frames ${first}..${index - 1}: ${[...bad.map((k) => `${k} ${got[k]} (model ${want[k]})`), ...(d('aborted') ? [`aborted ${d('aborted')}`] : [])].join(', ')}`,
      );
    }
    before = after;
    r.frames = index;
    r.durationMs = Number(process.hrtime.bigint() - t0) / 1e6;
    o.onProgress?.(index, r);
  }
  r.durationMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return r;
}

/** A one-screen report of a mismatch: enough to rebuild the frame and rerun it. */
export function describeMismatch(m: Mismatch): string {
  return [
    `seed ${m.seed} frame #${m.index} (${m.recipe}): ${m.problem}`,
    `  frame    ${m.frame}`,
    `  model    ${m.model.cls} ${m.model.action}: ${m.model.why}`,
    `  datapath ${m.datapath.action}, output ${m.datapath.output}`,
  ].join('\n');
}
