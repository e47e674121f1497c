// SPDX-License-Identifier: Apache-2.0
// native.ts: typed access to the libbpf addon (build/Release/xlvs_native.node); see native/ for the C++ side.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CompiledStruct } from '../core/abicheck';

/** Every native failure: `.code` is the errno name, `.syscall` the call that failed, `.log` the verifier log on load failures. */
export interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
  log?: string;
}

export interface BpfMap {
  readonly fd: number;
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly percpu: boolean;
  readonly valueBufSize: number;
  lookup(key: Buffer): Buffer | null;
  update(key: Buffer, value: Buffer, flags?: number): void;
  delete(key: Buffer): boolean;
  nextKey(key: Buffer | null): Buffer | null;
  updateBatch(keys: Buffer, values: Buffer, count: number, flags?: number): number;
  deleteBatch(keys: Buffer, count: number): number;
  lookupBatch(batchSize?: number): { keys: Buffer; values: Buffer; count: number };
  /** ARRAY maps created with BPF_F_MMAPABLE only: overwrite the value bytes from `offset` (values sit at a stride of round_up(valueSize, 8)). */
  writeMmap(data: Buffer, offset?: number): void;
  /** ARRAY maps created with BPF_F_MMAPABLE only: a copy of `length` value bytes from `offset`. */
  readMmap(offset: number, length: number): Buffer;
  /** ARRAY maps created with BPF_F_MMAPABLE and 4-byte values only: entry indices[k] = values[k] (u32 LE each), one atomic 32-bit store per entry. */
  storeMmapU32(indices: Buffer, values: Buffer): void;
  /**
   * ARRAY maps created with BPF_F_MMAPABLE only: frees the connection-table ways at `offsets` (u64 LE, 8-aligned) whose
   * key still equals its `keyLength` bytes of `keys` (rest of the key zeroed, then its first word swapped to zero).
   */
  freeKeysMmap(offsets: Buffer, keys: Buffer, keyLength: number): number;
  pin(path: string): void;
  close(): void;
}

/** A loaded program as the kernel reports it (bpf_prog_info). */
export interface ProgramInfo {
  id: number;
  /** The kernel keeps 15 characters of the name. */
  name: string;
  type: number;
  /** Instructions the verifier processed to accept it; null before 5.16. */
  verifiedInsns: number | null;
  mapIds: number[];
}

export interface BpfObject {
  programNames(): string[];
  programFd(name: string): number;
  programInfo(name: string): ProgramInfo;
  mapNames(): string[];
  map(name: string): BpfMap;
  close(): void;
}

export type XdpMode = 'native' | 'generic' | 'auto';

export interface XdpLink {
  readonly mode: 'native' | 'generic';
  readonly ifindex: number;
  readonly fd: number;
  pin(path: string): void;
  /** Swaps the program the link runs (bpf_link_update); the interface is never without one. */
  update(progFd: number): void;
  detach(): void;
  close(): void;
}

/** An AF_PACKET raw socket on one interface (the doctor's probes); frames this host sends are not received back. */
export interface PacketSocket {
  /** -1 once closed. */
  readonly fd: number;
  readonly ifindex: number;
  /** Sends one whole Ethernet frame; returns the bytes sent. */
  send(frame: Buffer): number;
  /** The next frame, or null after timeoutMs or once close() is called. */
  recv(timeoutMs: number): Promise<Buffer | null>;
  close(): void;
}

/** The consumer side of a BPF ring buffer map (validated wrapper: src/adapters/syncqueue.ts). */
export interface RingBuffer {
  /**
   * Resolves with the records available (concatenated, each whole) once at least maxBytes are gathered or the ring
   * is drained; waits up to timeoutMs for the first one; an empty Buffer on timeout or close(). One poll at a time.
   */
  poll(timeoutMs: number, maxBytes: number): Promise<Buffer>;
  close(): void;
}

export interface TestRunResult {
  retval: number;
  durationNs: number;
  dataOut: Buffer;
}

/** One neighbour entry (ARP or NDP) from a dump, or a change notification ('del': the kernel removed it). */
export interface NeighEvent {
  type: 'new' | 'del';
  ifindex: number;
  family: 4 | 6;
  /** Dotted IPv4, or IPv6 as inet_ntop(3) writes it (callers key by canonicalIp). */
  address: string;
  /** Lowercase aa:bb:cc:dd:ee:ff; null when the kernel holds no link-layer address (INCOMPLETE, FAILED, ...). */
  mac: string | null;
  /** NUD_* bits (linux/neighbour.h): 0x01 INCOMPLETE, 0x02 REACHABLE, 0x04 STALE, 0x08 DELAY, 0x10 PROBE, 0x20 FAILED, 0x40 NOARP, 0x80 PERMANENT; 0 NONE. */
  state: number;
}

/** In read()'s result where the kernel dropped notifications (ENOBUFS): only a fresh dump() is accurate again. */
export interface NeighOverrun {
  overrun: true;
}

/** An rtnetlink socket subscribed to neighbour changes (RTMGRP_NEIGH) in the network namespace that opened it; IPv4 and IPv6 entries. */
export interface NeighSocket {
  /** -1 once closed. */
  readonly fd: number;
  /**
   * The table now (all interfaces unless ifindex is given). It supersedes the notifications queued before it (discarded); those arriving during it come from
   * the next read().
   */
  dump(ifindex?: number): NeighEvent[];
  /** Changes since the last dump() or read(), never blocking ([] when none); at most 256 datagrams per call. */
  read(): (NeighEvent | NeighOverrun)[];
  close(): void;
}

/** A map a built object declares, as libbpf reads it from the ELF before any load. */
export interface ObjectMap {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** The struct the key (value) is, through typedefs; null for anything else. */
  keyType: string | null;
  valueType: string | null;
  /** A map-in-map's template for its inner maps; null for other maps. */
  inner: ObjectMap | null;
}

export interface Native {
  /** Read off a built object's ELF, nothing loaded (validated wrappers: src/adapters/btf.ts). null: no such struct. */
  btfStruct(objPath: string, name: string): CompiledStruct | null;
  /** The object's own maps (not libbpf's maps of its globals). */
  objectMaps(objPath: string): ObjectMap[];
  numPossibleCpus(): number;
  /** libbpf's feature probes (true: supported) and the programs loaded in the kernel. */
  probe: {
    progType(type: number): boolean;
    mapType(type: number): boolean;
    helper(progType: number, helperId: number): boolean;
    programs(): ProgramInfo[];
  };
  BpfObject: {
    /** reuseMaps: map name -> bpffs pin whose map the load adopts instead of creating one (refused when its layout differs). */
    /** programs: load only these (default: all). */
    open(
      path: string,
      opts?: { mapMaxEntries?: Record<string, number>; mapFlags?: Record<string, number>; reuseMaps?: Record<string, string>; programs?: string[] },
    ): Promise<BpfObject>;
  };
  BpfMap: {
    openPinned(path: string): BpfMap;
    fromId(id: number): BpfMap;
    create(o: { type: number; name: string; keySize: number; valueSize: number; maxEntries: number; flags?: number; innerMapFd?: number }): BpfMap;
  };
  XdpLink: {
    attach(progFd: number, ifname: string, mode: XdpMode): XdpLink;
    openPinned(path: string): XdpLink;
  };
  /** protocol: ethertype to receive (default ETH_P_ALL); filter: classic BPF, struct sock_filter[] in host byte order. */
  PacketSocket: new (
    ifindex: number,
    opts?: { protocol?: number; filter?: Buffer },
  ) => PacketSocket;
  /** One run of a short XDP program on the JS thread (xlvs_syncin: microseconds), no worker hop. */
  testRunSync(progFd: number, data: Buffer): TestRunResult;
  /** mapFd: a BPF_MAP_TYPE_RINGBUF map (duplicated: the map's handle may be closed first). */
  RingBuffer: new (
    mapFd: number,
  ) => RingBuffer;
  testRun(progFd: number, opts: { data: Buffer; repeat?: number; live?: boolean; batchSize?: number; ingressIfindex?: number }): Promise<TestRunResult>;
  /** rcvbuf: SO_RCVBUF in bytes (capped at net.core.rmem_max, then doubled by the kernel); default: net.core.rmem_default. */
  NeighSocket: new (opts?: {
    rcvbuf?: number;
  }) => NeighSocket;
  /** if_nametoindex(3) in this process's network namespace; throws ENODEV for an unknown name. */
  ifNameToIndex(ifname: string): number;
}

/** The repository root: the nearest ancestor holding binding.gyp (works from src/ under tsx and from dist/). */
export function repoRoot(from = __dirname): string {
  let dir = from;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'binding.gyp'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the xlvs repository root above ${from}`);
    dir = up;
  }
}

let cached: Native | undefined;

export function native(): Native {
  if (!cached) {
    const file = path.join(repoRoot(), 'build', 'Release', 'xlvs_native.node');
    if (!fs.existsSync(file)) throw new Error(`native addon missing at ${file}: run "npm run setup"`);
    cached = require(file) as Native;
  }
  return cached;
}

export function isNativeError(e: unknown): e is NativeError {
  return e instanceof Error && typeof (e as NativeError).errno === 'number' && typeof (e as NativeError).syscall === 'string';
}

/** An error for a message: a native one as its syscall and errno, with the tail of the verifier log when there is one. */
export function describeNativeError(e: unknown): string {
  if (isNativeError(e)) return `${e.syscall}: ${e.code}${e.log ? `\n${e.log.trim().split('\n').slice(-20).join('\n')}` : ''}`;
  return e instanceof Error ? e.message : String(e);
}

/** Kernel map types and flags the control plane creates maps with (uapi/linux/bpf.h). */
export const BPF_MAP_TYPE_ARRAY = 2;
export const BPF_MAP_TYPE_ARRAY_OF_MAPS = 12;
export const BPF_F_INNER_MAP = 1 << 12;
export const BPF_F_MMAPABLE = 1 << 10;
export const BPF_ANY = 0;
