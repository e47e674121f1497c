// SPDX-License-Identifier: Apache-2.0
// kernel.ts: the kernel features xlvs relies on (with the version that brought each), the verifier budget, and what a load failure means.

/**
 * Processed instructions each BPF program may take in the verifier: a quarter of its 1M limit, so a kernel update that makes the verifier walk more paths still
 * loads.
 */
export const VERIFIER_BUDGET = 250_000;
/** The verifier's own limit (BPF_COMPLEXITY_LIMIT_INSNS). */
export const VERIFIER_LIMIT = 1_000_000;
/** The oldest kernel xlvs is tested on and supports (Debian 12's stock kernel). */
export const MIN_KERNEL = '6.1';

/** uapi/linux/bpf.h numbers the probes pass to the kernel. */
const PROG_XDP = 6;
const MAP = { hash: 1, array: 2, percpuArray: 6, lruHash: 9, arrayOfMaps: 12, ringbuf: 27 } as const;
const HELPER = {
  mapLookup: 1,
  mapUpdate: 2,
  mapDelete: 3,
  smpProcessorId: 8,
  ringbufReserve: 131,
  ktimeCoarse: 160,
  forEachMapElem: 164,
  loop: 181,
  xdpLoadBytes: 189,
} as const;
export const BPF_F_MMAPABLE = 1 << 10;
export const BPF_F_INNER_MAP = 1 << 12;

/** How a feature is probed; 'implied' ones have no probe of their own: every kernel with `by` has them. */
export type Probe =
  | { kind: 'progType'; type: number }
  | { kind: 'mapType'; type: number }
  | { kind: 'mapFlags'; flags: number }
  | { kind: 'helper'; helper: number }
  | { kind: 'program'; program: string }
  | { kind: 'testRun'; live: boolean }
  | { kind: 'verifiedInsns' }
  | { kind: 'mapBatch' }
  | { kind: 'implied'; by: string };

export interface KernelFeature {
  /** Short name, as the README table and the refusal name it. */
  name: string;
  /** The first mainline kernel with it. */
  since: string;
  /** What xlvs uses it for. */
  usedFor: string;
  /** Without a required feature xlvs refuses to start; without an optional one it does what `fallback` says. */
  required: boolean;
  fallback?: string;
  probe: Probe;
}

export const KERNEL_FEATURES: readonly KernelFeature[] = [
  {
    name: 'XDP programs (BPF_PROG_TYPE_XDP)',
    since: '4.8',
    usedFor: 'the datapath and the sweeper',
    required: true,
    probe: { kind: 'progType', type: PROG_XDP },
  },
  { name: 'hash maps (BPF_MAP_TYPE_HASH)', since: '3.19', usedFor: 'services (xlvs_svc)', required: true, probe: { kind: 'mapType', type: MAP.hash } },
  {
    name: 'array maps (BPF_MAP_TYPE_ARRAY)',
    since: '3.19',
    usedFor: 'connection table, reals, settings',
    required: true,
    probe: { kind: 'mapType', type: MAP.array },
  },
  { name: 'per-CPU arrays (BPF_MAP_TYPE_PERCPU_ARRAY)', since: '4.6', usedFor: 'counters', required: true, probe: { kind: 'mapType', type: MAP.percpuArray } },
  {
    name: 'LRU hash maps (BPF_MAP_TYPE_LRU_HASH)',
    since: '4.10',
    usedFor: 'persistence templates',
    required: true,
    probe: { kind: 'mapType', type: MAP.lruHash },
  },
  {
    name: 'arrays of maps (BPF_MAP_TYPE_ARRAY_OF_MAPS)',
    since: '4.12',
    usedFor: 'schedule tables swapped in whole',
    required: true,
    probe: { kind: 'mapType', type: MAP.arrayOfMaps },
  },
  {
    name: 'mmapable arrays (BPF_F_MMAPABLE)',
    since: '5.5',
    usedFor: 'connection table read and schedule tables filled from user space',
    required: true,
    probe: { kind: 'mapFlags', flags: BPF_F_MMAPABLE },
  },
  {
    name: 'inner maps of any size (BPF_F_INNER_MAP)',
    since: '5.10',
    usedFor: 'schedule tables of any size',
    required: true,
    probe: { kind: 'mapFlags', flags: BPF_F_INNER_MAP },
  },
  {
    name: 'batched map operations (BPF_MAP_*_BATCH)',
    since: '5.6',
    usedFor: 'one syscall per map per configuration change',
    required: true,
    probe: { kind: 'mapBatch' },
  },
  { name: 'bpf_map_lookup_elem', since: '3.19', usedFor: 'every map read', required: true, probe: { kind: 'helper', helper: HELPER.mapLookup } },
  { name: 'bpf_map_update_elem', since: '3.19', usedFor: 'persistence templates', required: true, probe: { kind: 'helper', helper: HELPER.mapUpdate } },
  { name: 'bpf_map_delete_elem', since: '3.19', usedFor: 'expiring templates', required: true, probe: { kind: 'helper', helper: HELPER.mapDelete } },
  {
    name: 'bpf_get_smp_processor_id',
    since: '4.1',
    usedFor: 'per-CPU connection-table slices',
    required: true,
    probe: { kind: 'helper', helper: HELPER.smpProcessorId },
  },
  { name: 'bpf_ktime_get_coarse_ns', since: '5.11', usedFor: 'connection timestamps', required: true, probe: { kind: 'helper', helper: HELPER.ktimeCoarse } },
  {
    name: 'bpf_for_each_map_elem',
    since: '5.13',
    usedFor: 'sweeping persistence templates',
    required: true,
    probe: { kind: 'helper', helper: HELPER.forEachMapElem },
  },
  {
    name: 'bpf_loop',
    since: '5.17',
    usedFor: 'least-connection schedulers, hash fallback, rr/wrr skips, the sweeper',
    required: true,
    probe: { kind: 'helper', helper: HELPER.loop },
  },
  {
    name: 'atomic fetch-add and compare-and-swap (BPF_ATOMIC)',
    since: '5.12',
    usedFor: 'connection counts, rr/wrr positions, table claims',
    required: true,
    probe: { kind: 'program', program: 'probe_atomics' },
  },
  {
    name: 'global functions with pointer arguments',
    since: '5.12',
    usedFor: 'new-connection path and schedulers, verified once each',
    required: true,
    probe: { kind: 'program', program: 'probe_global_ptr' },
  },
  {
    name: 'ring buffer maps (BPF_MAP_TYPE_RINGBUF)',
    since: '5.8',
    usedFor: 'connection sync records (xlvs_syncq)',
    required: true,
    probe: { kind: 'mapType', type: MAP.ringbuf },
  },
  {
    name: 'bpf_ringbuf_reserve',
    since: '5.8',
    usedFor: 'connection sync records written in place',
    required: true,
    probe: { kind: 'helper', helper: HELPER.ringbufReserve },
  },
  {
    name: 'bpf_xdp_load_bytes',
    since: '5.18',
    usedFor: 'synced connections in (xlvs_syncin)',
    required: true,
    probe: { kind: 'helper', helper: HELPER.xdpLoadBytes },
  },
  {
    name: 'BPF_PROG_TEST_RUN for XDP',
    since: '4.12',
    usedFor: 'the sweeper (idle timeouts), run from user space',
    required: true,
    probe: { kind: 'testRun', live: false },
  },
  {
    name: 'XDP bpf_link (BPF_LINK_CREATE, BPF_XDP)',
    since: '5.9',
    usedFor: 'a pinned attachment that outlives the daemon',
    required: true,
    probe: { kind: 'implied', by: 'bpf_loop' },
  },
  {
    name: 'verified_insns in bpf_prog_info',
    since: '5.16',
    usedFor: 'verifier budget in `xlvs kernel` and `xlvs status`',
    required: false,
    fallback: 'processed instructions are shown as unknown',
    probe: { kind: 'verifiedInsns' },
  },
  {
    name: 'live frames (BPF_F_TEST_XDP_LIVE_FRAMES)',
    since: '5.18',
    usedFor: "the benchmark's traffic generator",
    required: false,
    fallback: "the benchmark's live-frame sections are skipped",
    probe: { kind: 'testRun', live: true },
  },
];

/** The outcome of probing one feature: true, false, or an error text when the probe itself could not tell. */
export type ProbeOutcome = boolean | { error: string };

export interface FeatureReport {
  feature: KernelFeature;
  present: boolean;
  /** Why the probe could not decide (treated as absent). */
  error?: string;
}

export function featureReport(outcomes: ReadonlyMap<string, ProbeOutcome>): FeatureReport[] {
  return KERNEL_FEATURES.map((feature) => {
    let o = outcomes.get(feature.name);
    if (feature.probe.kind === 'implied') {
      const by = feature.probe.by;
      o = outcomes.get(KERNEL_FEATURES.find((f) => f.name === by)!.name);
    }
    if (o === undefined) return { feature, present: false, error: 'not probed' };
    if (typeof o === 'object') return { feature, present: false, error: o.error };
    return { feature, present: o };
  });
}

/** The refusal for missing required features (null when all are there), naming each with the version it needs. */
export function missingRequired(report: readonly FeatureReport[], kernel: string): string | null {
  const missing = report.filter((r) => r.feature.required && !r.present);
  if (!missing.length) return null;
  // A probe that was not allowed to run says nothing of the kernel, and libbpf's own probes answer "no" when denied:
  // one denial means the process lacks the capabilities, and the other answers cannot be trusted either.
  const denied = missing.filter((r) => r.error && /\b(EPERM|EACCES)\b/.test(r.error));
  if (denied.length) {
    return (
      `cannot probe this kernel's (${kernel}) BPF features: permission denied (${denied[0]!.error}); ` +
      'run as root, or with CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_NET_RAW (contrib/xlvs.service)'
    );
  }
  const lines = missing.map(
    (r) => `${r.feature.name}: needs Linux ${r.feature.since} or later (${r.feature.usedFor})${r.error ? `; the probe failed: ${r.error}` : ''}`,
  );
  return (
    `this kernel (${kernel}) lacks what xlvs needs:\n  ${lines.join('\n  ')}\n` +
    `xlvs supports Linux ${MIN_KERNEL} and later (README "Kernels"); on an older or trimmed kernel, upgrade it or enable BPF (CONFIG_BPF_SYSCALL, CONFIG_BPF_JIT).`
  );
}

/** One line per missing optional feature: what xlvs does instead. */
export function fallbacks(report: readonly FeatureReport[]): string[] {
  return report.filter((r) => !r.feature.required && !r.present).map((r) => `${r.feature.name} (Linux ${r.feature.since}) is missing: ${r.feature.fallback}`);
}

/** "6.1.0-27-amd64" -> [6, 1]; unparsable -> null. */
export function kernelVersion(release: string): [number, number] | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : null;
}
