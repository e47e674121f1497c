// datapath.ts: loads the XDP object, writes services/reals/Maglev tables into its maps, attaches it, and reads it back through pins.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as abi from '../core/abi';
import { RealState, ServiceState, realFlags } from '../core/director';
import { RuntimeError } from '../core/errors';
import { BPF_ANY, BPF_F_INNER_MAP, BPF_MAP_TYPE_ARRAY, BpfMap, BpfObject, XdpLink, XdpMode, isNativeError, native, repoRoot } from './native';

export const MAP_NAMES = ['xlvs_svc', 'xlvs_conn', 'xlvs_reals', 'xlvs_mh', 'xlvs_cfg', 'xlvs_st_svc', 'xlvs_st_real', 'xlvs_verdicts'] as const;
export type MapName = (typeof MAP_NAMES)[number];
export type Maps = Record<MapName, BpfMap>;

export function objectPath(name = 'xlvs'): string {
  return path.join(repoRoot(), 'build', 'bpf', `${name}.o`);
}

function describe(e: unknown): string {
  if (isNativeError(e)) return `${e.syscall}: ${e.code}${e.log ? `\n${e.log.trim().split('\n').slice(-20).join('\n')}` : ''}`;
  return e instanceof Error ? e.message : String(e);
}

/** Fills a Maglev table into a fresh inner map; the caller swaps it in with one outer-map write. */
function tableMap(svcId: number, table: Uint32Array): BpfMap {
  const n = native();
  const m = n.BpfMap.create({ type: BPF_MAP_TYPE_ARRAY, name: `xlvs_mh_${svcId}`, keySize: 4, valueSize: 4, maxEntries: table.length, flags: BPF_F_INNER_MAP });
  const keys = Buffer.alloc(table.length * 4);
  for (let i = 0; i < table.length; i++) keys.writeUInt32LE(i, i * 4);
  m.updateBatch(keys, Buffer.from(table.buffer, table.byteOffset, table.byteLength), table.length, BPF_ANY);
  return m;
}

export class Datapath {
  private link: XdpLink | undefined;
  private pinnedAt: string | undefined;

  private constructor(private readonly obj: BpfObject, readonly maps: Maps) {}

  static async load(opts: { connTableSize: number; objPath?: string }): Promise<Datapath> {
    let obj: BpfObject;
    try {
      obj = await native().BpfObject.open(opts.objPath ?? objectPath(), { mapMaxEntries: { xlvs_conn: opts.connTableSize } });
    } catch (e) {
      throw new RuntimeError(`cannot load the XDP program (is BPF available to this kernel and user?): ${describe(e)}`, { cause: e });
    }
    const maps = {} as Maps;
    for (const name of MAP_NAMES) maps[name] = obj.map(name);
    return new Datapath(obj, maps);
  }

  programFd(): number {
    return this.obj.programFd('xlvs_xdp');
  }

  setDirectorMac(mac: string): void {
    this.maps.xlvs_cfg.update(abi.u32Key(0), abi.cfg.encode({ mac }));
  }

  writeReal(r: RealState): void {
    this.maps.xlvs_reals.update(
      abi.u32Key(r.id),
      abi.real.encode({ mac: r.mac ?? '00:00:00:00:00:00', flags: realFlags(r), addr: abi.ipv4ToU32(r.address), svc_id: r.svcId, weight: r.weight }),
    );
  }

  /** Swaps the whole table in one write: a lookup sees the old table or the new one, never a mix. */
  writeTable(svcId: number, table: Uint32Array): void {
    const inner = tableMap(svcId, table);
    try {
      const v = Buffer.alloc(4);
      v.writeUInt32LE(inner.fd);
      this.maps.xlvs_mh.update(abi.u32Key(svcId), v);
    } finally {
      inner.close(); // the outer map holds its own reference
    }
  }

  writeService(s: ServiceState): void {
    this.maps.xlvs_svc.update(
      abi.svcKey.encode({ vip: abi.ipv4ToU32(s.vip), port: s.port, proto: s.proto }),
      abi.svc.encode({ id: s.id, flags: 0, mh_size: s.mhSize }),
    );
  }

  attach(ifname: string, mode: XdpMode): 'native' | 'generic' {
    try {
      this.link = native().XdpLink.attach(this.programFd(), ifname, mode);
    } catch (e) {
      const hint = isNativeError(e) && e.code === 'EBUSY' ? ' (another XDP program is attached to it)' : '';
      throw new RuntimeError(`cannot attach XDP to ${ifname} in ${mode} mode${hint}: ${describe(e)}`, { cause: e });
    }
    return this.link.mode;
  }

  pin(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    this.pinnedAt = dir;
    for (const name of MAP_NAMES) this.maps[name].pin(path.join(dir, name.replace(/^xlvs_/, '')));
  }

  /** Detaches and removes the pins this process made; safe to call twice. */
  close(): void {
    this.link?.detach();
    this.link = undefined;
    if (this.pinnedAt) removePins(this.pinnedAt);
    this.pinnedAt = undefined;
    for (const m of Object.values(this.maps)) m.close();
    this.obj.close();
  }
}

export function removePins(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { force: true });
  fs.rmdirSync(dir);
  const parent = path.dirname(dir);
  if (fs.existsSync(parent) && fs.readdirSync(parent).length === 0) fs.rmdirSync(parent);
}

export interface RealSnapshot {
  id: number;
  address: string;
  mac: string | null;
  weight: number;
  flags: number;
  stats: abi.Counters;
}

export interface ServiceSnapshot {
  id: number;
  vip: string;
  port: number;
  proto: number;
  mhSize: number;
  stats: abi.Counters;
  reals: RealSnapshot[];
}

export interface Snapshot {
  services: ServiceSnapshot[];
  verdicts: abi.Verdicts;
}

/** Reads what a running director left in its pinned maps; everything status and tests need, nothing the datapath does not hold. */
export class PinnedDatapath {
  readonly maps: Maps;
  private readonly ncpu: number;

  constructor(readonly dir: string) {
    if (!fs.existsSync(dir)) throw new RuntimeError(`no xlvs datapath pinned at ${dir}: is "xlvs up" running on that interface?`);
    const n = native();
    this.ncpu = n.numPossibleCpus();
    const maps = {} as Maps;
    try {
      for (const name of MAP_NAMES) maps[name] = n.BpfMap.openPinned(path.join(dir, name.replace(/^xlvs_/, '')));
    } catch (e) {
      for (const m of Object.values(maps)) m.close();
      throw new RuntimeError(`cannot open the pinned maps in ${dir}: ${describe(e)}`, { cause: e });
    }
    this.maps = maps;
  }

  private perCpu<T extends object>(spec: abi.StructSpec<T>, map: BpfMap, key: number): T {
    const buf = map.lookup(abi.u32Key(key));
    return buf ? abi.sumPerCpu(spec, buf, this.ncpu) : (spec.decode(Buffer.alloc(spec.size)) as T);
  }

  snapshot(): Snapshot {
    const services: ServiceSnapshot[] = [];
    for (let k = this.maps.xlvs_svc.nextKey(null); k; k = this.maps.xlvs_svc.nextKey(k)) {
      const v = this.maps.xlvs_svc.lookup(k);
      if (!v) continue; // deleted between the two calls
      const key = abi.svcKey.decode(k);
      const s = abi.svc.decode(v);
      services.push({ id: s.id, vip: abi.u32ToIpv4(key.vip), port: key.port, proto: key.proto, mhSize: s.mh_size, stats: this.perCpu(abi.counters, this.maps.xlvs_st_svc, s.id), reals: [] });
    }
    const byId = new Map(services.map((s) => [s.id, s]));
    const all = this.maps.xlvs_reals.lookupBatch(4096);
    for (let i = 0; i < all.count; i++) {
      const r = abi.real.decode(all.values, i * this.maps.xlvs_reals.valueSize);
      if (r.addr === 0) continue; // never written
      const id = all.keys.readUInt32LE(i * 4);
      byId.get(r.svc_id)?.reals.push({
        id,
        address: abi.u32ToIpv4(r.addr),
        mac: r.flags & abi.REAL_F_MAC ? r.mac : null,
        weight: r.weight,
        flags: r.flags,
        stats: this.perCpu(abi.counters, this.maps.xlvs_st_real, id),
      });
    }
    services.sort((a, b) => a.id - b.id);
    for (const s of services) s.reals.sort((a, b) => a.id - b.id);
    return { services, verdicts: this.perCpu(abi.verdicts, this.maps.xlvs_verdicts, 0) };
  }

  close(): void {
    for (const m of Object.values(this.maps)) m.close();
  }
}
