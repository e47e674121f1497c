// SPDX-License-Identifier: Apache-2.0
// kernelprobe.ts: probes the running kernel for each feature of core/kernel.ts and measures what each BPF program costs the verifier.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RuntimeError } from '../core/errors';
import {
  BPF_F_INNER_MAP,
  BPF_F_MMAPABLE,
  type FeatureReport,
  fallbacks,
  featureReport,
  KERNEL_FEATURES,
  type KernelFeature,
  missingRequired,
  type ProbeOutcome,
} from '../core/kernel';
import { loadFailureMessage } from '../core/loadfailure';
import { BPF_MAP_TYPE_ARRAY, type BpfObject, isNativeError, native, repoRoot } from './native';

const PROBE_FRAME = Buffer.alloc(64);

function bpfDir(): string {
  return path.join(repoRoot(), 'build', 'bpf');
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

async function probeOne(f: KernelFeature): Promise<ProbeOutcome> {
  const n = native();
  const p = f.probe;
  try {
    switch (p.kind) {
      case 'progType':
        return n.probe.progType(p.type);
      case 'mapType':
        return n.probe.mapType(p.type);
      case 'helper':
        return n.probe.helper(6 /* BPF_PROG_TYPE_XDP */, p.helper);
      case 'mapFlags': {
        // The inner-map flag is accepted only together with what the schedule tables use it with.
        const m = n.BpfMap.create({
          type: BPF_MAP_TYPE_ARRAY,
          name: 'xlvs_probe',
          keySize: 4,
          valueSize: 4,
          maxEntries: 1,
          flags: p.flags | (p.flags === BPF_F_INNER_MAP ? BPF_F_MMAPABLE : 0),
        });
        m.close();
        return true;
      }
      case 'mapBatch': {
        const m = n.BpfMap.create({ type: BPF_MAP_TYPE_ARRAY, name: 'xlvs_probe', keySize: 4, valueSize: 4, maxEntries: 1 });
        try {
          m.updateBatch(Buffer.alloc(4), Buffer.alloc(4), 1);
        } finally {
          m.close();
        }
        return true;
      }
      case 'program': {
        const obj = await n.BpfObject.open(path.join(bpfDir(), 'probe.o'), { programs: [p.program] });
        obj.close();
        return true;
      }
      case 'testRun':
      case 'verifiedInsns': {
        const obj = await n.BpfObject.open(path.join(bpfDir(), 'probe.o'), { programs: ['probe_drop'] });
        try {
          if (p.kind === 'verifiedInsns') return obj.programInfo('probe_drop').verifiedInsns !== null;
          await n.testRun(obj.programFd('probe_drop'), { data: PROBE_FRAME, repeat: 1, live: p.live });
          return true;
        } finally {
          obj.close();
        }
      }
      case 'implied':
        return true; // answered by the feature it names (featureReport)
    }
  } catch (e) {
    // EINVAL/EOPNOTSUPP/E2BIG: the kernel does not know the flag, command or instruction; EACCES from a load: the verifier said no.
    if (isNativeError(e) && p.kind === 'program' && e.code === 'EACCES') return false;
    if (
      isNativeError(e) &&
      ['EINVAL', 'EOPNOTSUPP', 'ENOTSUPP', 'E2BIG', 'LIBBPF_ERRNO__VERIFY', 'LIBBPF_ERRNO__PROG2BIG', 'LIBBPF_ERRNO__KVER'].includes(e.code)
    )
      return false;
    return { error: errorText(e) };
  }
}

/** Every feature of the table, probed on this kernel. */
export async function probeKernel(): Promise<FeatureReport[]> {
  const outcomes = new Map<string, ProbeOutcome>();
  for (const f of KERNEL_FEATURES) outcomes.set(f.name, await probeOne(f));
  return featureReport(outcomes);
}

let checked: Promise<string[]> | undefined;

/**
 * Refuses (RuntimeError) when a required feature is missing, naming each with the kernel version it needs;
 * resolves to one line per optional feature that falls back. Probed once per process.
 */
export function requireKernel(): Promise<string[]> {
  checked ??= probeKernel().then((report) => {
    const refusal = missingRequired(report, os.release());
    if (refusal) throw new RuntimeError(refusal);
    return fallbacks(report);
  });
  checked.catch(() => {
    checked = undefined;
  });
  return checked;
}

export interface ProgramCost {
  object: string;
  program: string;
  /** Instructions the verifier processed to accept it; null where the kernel does not say (before 5.16). */
  verifiedInsns: number | null;
}

/** The BPF objects a build makes (build/bpf/*.o). */
export function builtObjects(): string[] {
  const dir = bpfDir();
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.o'))
    .sort()
    .map((f) => path.join(dir, f));
}

/**
 * Loads each object (with small tables: the verifier's work does not depend on map sizes) and reads what each
 * program cost the verifier. A program that does not load throws with the explanation a director would give.
 */
export async function verifierCosts(objects = builtObjects()): Promise<ProgramCost[]> {
  const out: ProgramCost[] = [];
  for (const file of objects) {
    const object = path.basename(file);
    const small = object.startsWith('xlvs') ? { mapMaxEntries: { xlvs_conn: 64, xlvs_persist: 1024 } } : {};
    let obj: BpfObject;
    try {
      obj = await native().BpfObject.open(file, small);
    } catch (e) {
      if (isNativeError(e)) throw new RuntimeError(loadFailureMessage(e, os.release(), object), { cause: e });
      throw e;
    }
    try {
      for (const program of obj.programNames()) out.push({ object, program, verifiedInsns: obj.programInfo(program).verifiedInsns });
    } finally {
      obj.close();
    }
  }
  return out;
}
