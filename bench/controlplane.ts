// controlplane.ts: control-plane costs (Maglev build, applying 10,000 services) and the kernel memory a tracked connection takes.

import * as fs from 'node:fs';
import * as abi from '../src/core/abi';
import { parseConfig } from '../src/core/config';
import { desiredState, serviceTable } from '../src/core/director';
import { buildMaglev } from '../src/core/maglev';
import { Datapath } from '../src/adapters/datapath';
import { native } from '../src/adapters/native';

export interface ControlPlaneResult {
  maglev_65537x1000_ms: number;
  apply_services: number;
  apply_maglev_size: number;
  apply_ms: number;
}

export interface MemoryResult {
  conn_entries: number;
  /** memlock of the connection table as the kernel accounts it (elements, buckets, LRU lists). */
  conn_table_bytes: number;
  bytes_per_conn: number;
  conn_table_per_cpu_lru_bytes: number;
  fcache_bytes_per_cpu: number;
  ncpu: number;
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

export function maglevBuild(rounds: number): number {
  const reals = Array.from({ length: 1000 }, (_, i) => ({ key: `10.${(i >> 8) & 255}.${i & 255}.1:80`, weight: 1 + (i % 5), id: i }));
  buildMaglev(reals, abi.MH_DEFAULT_SIZE); // JIT warm-up
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    buildMaglev(reals, abi.MH_DEFAULT_SIZE);
    times.push(ms(t0));
  }
  return median(times);
}

/** The steps a start-up takes: reals, then every table in one batch, then the service keys that make them reachable. */
export async function applyServices(count: number, maglevSize: number): Promise<number> {
  const lines = ['interface: eth0', 'conn_table_size: 65536', 'services:'];
  for (let i = 0; i < count; i++) {
    lines.push(`  - { vip: 10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}, port: 80, protocol: tcp, maglev_size: ${maglevSize}, reals: [{address: 10.0.0.11, weight: 3}, {address: 10.0.0.12, weight: 2}, {address: 10.0.0.13, weight: 1}] }`);
  }
  const cfg = parseConfig(lines.join('\n'));
  const dp = await Datapath.load({ connTableSize: cfg.conn_table_size });
  try {
    const t0 = process.hrtime.bigint();
    const services = desiredState(cfg);
    for (const s of services) {
      for (const r of s.reals) {
        r.mac = '02:00:00:00:00:11';
        dp.writeReal(r);
      }
    }
    dp.writeTables(new Map(services.map((s) => [s.id, serviceTable(s)])));
    for (const s of services) dp.writeService(s);
    return ms(t0);
  } finally {
    dp.close();
  }
}

function memlock(fd: number): number {
  const m = /^memlock:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!m) throw new Error('no memlock line in the map fdinfo');
  return Number(m[1]);
}

export async function memory(entries: number): Promise<MemoryResult> {
  const common = await Datapath.load({ connTableSize: entries });
  const perCpu = await Datapath.load({ connTableSize: entries, connTablePerCpu: true });
  try {
    const bytes = memlock(common.maps.xlvs_conn.fd);
    return {
      conn_entries: entries,
      conn_table_bytes: bytes,
      bytes_per_conn: bytes / entries,
      conn_table_per_cpu_lru_bytes: memlock(perCpu.maps.xlvs_conn.fd),
      fcache_bytes_per_cpu: abi.FCACHE_SIZE * abi.fcacheEntry.size,
      ncpu: native().numPossibleCpus(),
    };
  } finally {
    common.close();
    perCpu.close();
  }
}
