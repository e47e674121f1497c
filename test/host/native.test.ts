// SPDX-License-Identifier: Apache-2.0
// native.test.ts: the libbpf addon against the real kernel: object layouts, maps, objects, verifier logs, test runs and XDP links (needs root and BPF).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { BpfMap, BpfObject, Native, NativeError } from '../../src/adapters/native';
import { XDP_PASS } from '../../src/core/verdictmodel';

// uapi/linux/bpf.h and if_link.h values used below.
const BPF_MAP_TYPE_HASH = 1;
const BPF_MAP_TYPE_ARRAY = 2;
const BPF_MAP_TYPE_PERCPU_HASH = 5;
const BPF_MAP_TYPE_PERCPU_ARRAY = 6;
const BPF_NOEXIST = 1;
const BPF_EXIST = 2;
const BPF_F_NO_PREALLOC = 1;
const XDP_ATTACHED_DRV = 1;
const XDP_ATTACHED_SKB = 2;
const BPF_FS_MAGIC = 0xcafe4a11;

// The nearest ancestor holding binding.gyp, from wherever tsc put this file
// (dist/test/host normally), else from the working directory.
function repoRoot(): string {
  for (const start of [__dirname, process.cwd()]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      if (fs.existsSync(path.join(dir, 'binding.gyp'))) return dir;
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new Error(`no binding.gyp above ${__dirname} or ${process.cwd()}`);
}

const root = repoRoot();
const n = require(path.join(root, 'build', 'Release', 'xlvs_native.node')) as Native;

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const u64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};

// Asserts the one error shape every native failure has.
function assertNativeError(e: unknown, code: string, syscall: string): true {
  assert.ok(e instanceof Error, 'an Error');
  const ne = e as NativeError;
  assert.equal(ne.code, code);
  assert.equal(typeof ne.errno, 'number');
  assert.ok(ne.errno > 0, 'errno is positive');
  assert.equal(ne.syscall, syscall);
  assert.match(ne.message, new RegExp(`^${syscall}: .+ \\(${code}\\)`));
  return true;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-native-'));
let bpffs = '';
let mountedBpffs = false;

function clangBpf(name: string, source: string): string {
  const src = path.join(tmp, `${name}.c`);
  const obj = path.join(tmp, `${name}.o`);
  fs.writeFileSync(src, source);
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', `-I/usr/include/${os.arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`, '-c', src, '-o', obj]);
  return obj;
}

// Counts runs in an array map so a test run can be seen to have executed the
// program, and carries a hash map for mapFlags to act on.
const OK_SRC = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } xnt_cnt SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16); __type(key, __u32); __type(value, __u32); } xnt_hash SEC(".maps");
SEC("xdp") int xnt_pass(struct xdp_md *ctx) {
  __u32 k = 0;
  __u64 *v = bpf_map_lookup_elem(&xnt_cnt, &k);
  if (v) __sync_fetch_and_add(v, 1);
  __u32 *h = bpf_map_lookup_elem(&xnt_hash, &k);
  return h ? XDP_DROP : XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
`;

// Reads the packet without a bounds check: the verifier must refuse it.
const BAD_SRC = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int xnt_bad(struct xdp_md *ctx) {
  unsigned char *p = (unsigned char *)(long)ctx->data;
  return p[0] ? XDP_PASS : XDP_DROP;
}
char LICENSE[] SEC("license") = "GPL";
`;

let okObj = '';
let badObj = '';

before(() => {
  // Deliberately assertions, not skips: a host without root or BPF cannot run
  // xlvs at all, and a silently skipped suite would hide that.
  assert.equal(process.getuid?.(), 0, 'native tests must run as root');
  const probe = n.BpfMap.create({ type: BPF_MAP_TYPE_ARRAY, name: 'xnt_probe', keySize: 4, valueSize: 4, maxEntries: 1 });
  probe.close();

  okObj = clangBpf('ok', OK_SRC);
  badObj = clangBpf('bad', BAD_SRC);

  if (fs.statfsSync('/sys/fs/bpf').type === BPF_FS_MAGIC) {
    bpffs = fs.mkdtempSync('/sys/fs/bpf/xlvs-native-');
  } else {
    bpffs = fs.mkdtempSync('/run/xlvs-native-bpffs-');
    execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
    mountedBpffs = true;
  }
});

after(() => {
  if (bpffs) {
    if (mountedBpffs) {
      execFileSync('umount', [bpffs]);
      fs.rmdirSync(bpffs);
    } else {
      fs.rmSync(bpffs, { recursive: true, force: true });
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

// A key with a hole the compiler pads, and a bitfield: what btfStruct must report as laid out, not as declared.
const LAYOUT_SRC = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct xnt_holey { __u8 a; __u32 b; __u16 c; };
struct xnt_bits { __u32 lo : 4, hi : 28; };
typedef struct xnt_holey xnt_holey_t;
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, xnt_holey_t); __type(value, struct xnt_bits); } xnt_layout SEC(".maps");
struct xnt_inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 3); __type(key, __u32); __type(value, __u32); };
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 2); __type(key, __u32); __array(values, struct xnt_inner); } xnt_outer SEC(".maps");
SEC("xdp") int xnt_layout_prog(struct xdp_md *ctx) {
  xnt_holey_t k = {};
  return bpf_map_lookup_elem(&xnt_layout, &k) ? XDP_DROP : XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
`;

describe('object layout (read off the ELF, nothing loaded)', () => {
  let layoutObj = '';
  before(() => {
    layoutObj = clangBpf('layout', LAYOUT_SRC);
  });

  test('btfStruct gives the size and member offsets the compiler chose', () => {
    assert.deepEqual(n.btfStruct(layoutObj, 'xnt_holey'), {
      name: 'xnt_holey',
      size: 12,
      members: [
        { name: 'a', offset_bits: 0, size: 1, bitfield_bits: 0 },
        { name: 'b', offset_bits: 32, size: 4, bitfield_bits: 0 },
        { name: 'c', offset_bits: 64, size: 2, bitfield_bits: 0 },
      ],
    });
    const bits = n.btfStruct(layoutObj, 'xnt_bits')!;
    assert.deepEqual(
      bits.members.map((m) => [m.name, m.offset_bits, m.bitfield_bits]),
      [
        ['lo', 0, 4],
        ['hi', 4, 28],
      ],
    );
    assert.equal(n.btfStruct(layoutObj, 'xnt_absent'), null);
  });

  test('objectMaps lists the declared maps with their key and value structs and inner template', () => {
    const maps = n.objectMaps(layoutObj);
    assert.deepEqual(
      maps.map((m) => m.name),
      ['xnt_layout', 'xnt_outer'],
    );
    assert.deepEqual(maps[0], {
      name: 'xnt_layout',
      type: BPF_MAP_TYPE_HASH,
      keySize: 12,
      valueSize: 4,
      maxEntries: 8,
      flags: 0,
      keyType: 'xnt_holey',
      valueType: 'xnt_bits',
      inner: null,
    });
    assert.deepEqual(maps[1]!.inner, {
      name: 'xnt_outer.inner',
      type: BPF_MAP_TYPE_ARRAY,
      keySize: 4,
      valueSize: 4,
      maxEntries: 3,
      flags: 0,
      keyType: null,
      valueType: null,
      inner: null,
    });
  });

  test('an unreadable object is a native error', () => {
    assert.throws(
      () => n.btfStruct(path.join(tmp, 'absent.o'), 'x'),
      (e) => assertNativeError(e, 'ENOENT', 'btf__parse'),
    );
    assert.throws(
      () => n.objectMaps(path.join(tmp, 'absent.o')),
      (e) => assertNativeError(e, 'ENOENT', 'bpf_object__open_file'),
    );
  });
});

describe('BpfMap', () => {
  test('numPossibleCpus is a positive integer', () => {
    const c = n.numPossibleCpus();
    assert.ok(Number.isInteger(c) && c >= 1);
  });

  test('create/update/lookup/delete/nextKey round trip on a hash map', () => {
    const m = n.BpfMap.create({ type: BPF_MAP_TYPE_HASH, name: 'xnt_rt', keySize: 4, valueSize: 8, maxEntries: 32 });
    try {
      assert.ok(m.fd > 2);
      assert.ok(m.id > 0);
      assert.equal(m.name, 'xnt_rt');
      assert.equal(m.type, BPF_MAP_TYPE_HASH);
      assert.equal(m.keySize, 4);
      assert.equal(m.valueSize, 8);
      assert.equal(m.maxEntries, 32);
      assert.equal(m.flags, 0);
      assert.equal(m.percpu, false);
      assert.equal(m.valueBufSize, 8);

      assert.equal(m.lookup(u32(1)), null);
      assert.equal(m.nextKey(null), null);
      for (const k of [1, 2, 3]) m.update(u32(k), u64(BigInt(k) * 1000n), BPF_NOEXIST);
      assert.deepEqual(m.lookup(u32(2)), u64(2000n));

      assert.throws(
        () => m.update(u32(2), u64(0n), BPF_NOEXIST),
        (e) => assertNativeError(e, 'EEXIST', 'bpf_map_update_elem'),
      );
      assert.throws(
        () => m.update(u32(9), u64(0n), BPF_EXIST),
        (e) => assertNativeError(e, 'ENOENT', 'bpf_map_update_elem'),
      );
      m.update(u32(2), u64(2222n), BPF_EXIST);
      assert.deepEqual(m.lookup(u32(2)), u64(2222n));

      const seen: number[] = [];
      for (let k = m.nextKey(null); k !== null; k = m.nextKey(k)) seen.push(k.readUInt32LE());
      assert.deepEqual(seen.sort(), [1, 2, 3]);

      assert.equal(m.delete(u32(1)), true);
      assert.equal(m.delete(u32(1)), false);
      assert.equal(m.lookup(u32(1)), null);

      const again = n.BpfMap.fromId(m.id);
      assert.equal(again.id, m.id);
      assert.notEqual(again.fd, m.fd);
      assert.deepEqual(again.lookup(u32(3)), u64(3000n));
      again.close();
      assert.deepEqual(m.lookup(u32(3)), u64(3000n), 'closing one handle leaves the other working');
    } finally {
      m.close();
    }
    m.close();
  });

  test('storeMmapU32 stores u32 values at entry indices of an mmapable array, checking every index first', () => {
    const BPF_F_MMAPABLE = 1024;
    const m = n.BpfMap.create({ type: BPF_MAP_TYPE_ARRAY, name: 'xnt_store32', keySize: 4, valueSize: 4, maxEntries: 5, flags: BPF_F_MMAPABLE });
    try {
      const words = (a: number[]) => Buffer.from(new Uint32Array(a).buffer);
      m.storeMmapU32(words([1, 4]), words([0xdeadbeef, 7]));
      assert.deepEqual(
        [0, 1, 2, 3, 4].map((i) => m.lookup(u32(i))!.readUInt32LE(0)),
        [0, 0xdeadbeef, 0, 0, 7],
      );
      assert.throws(() => m.storeMmapU32(words([2, 5]), words([9, 9])), RangeError);
      assert.equal(m.lookup(u32(2))!.readUInt32LE(0), 0, 'nothing stored when an index is out of range');
      assert.throws(() => m.storeMmapU32(words([2]), words([9, 9])), RangeError);
    } finally {
      m.close();
    }
  });

  test('readMmap and writeMmap reach values at any offset, across page boundaries, far into a large map', () => {
    const BPF_F_MMAPABLE = 1024;
    // 3 pages and a half of 24-byte values (a stride of 24): values straddle page boundaries.
    const entries = Math.floor((3.5 * 4096) / 24);
    const m = n.BpfMap.create({ type: BPF_MAP_TYPE_ARRAY, name: 'xnt_mmapoff', keySize: 4, valueSize: 24, maxEntries: entries, flags: BPF_F_MMAPABLE });
    try {
      const total = entries * 24;
      const straddling = Math.floor(4096 / 24); // value 170 spans bytes 4080..4103
      const v = Buffer.from(Array.from({ length: 24 }, (_, i) => i + 1));
      m.writeMmap(v, straddling * 24);
      assert.deepEqual(m.lookup(u32(straddling)), v, 'a value across the first page boundary');
      assert.deepEqual(m.readMmap(straddling * 24 + 10, 10), v.subarray(10, 20));
      m.writeMmap(Buffer.from([0xaa, 0xbb]), total - 2);
      assert.deepEqual(m.lookup(u32(entries - 1))!.subarray(22), Buffer.from([0xaa, 0xbb]), 'the last bytes of the last page');
      assert.deepEqual(m.readMmap(0, total).subarray(straddling * 24, straddling * 24 + 24), v, 'one read of every page');
      assert.equal(m.readMmap(total, 0).length, 0);
      assert.throws(() => m.readMmap(total - 1, 2), RangeError);
      assert.throws(() => m.writeMmap(Buffer.alloc(1), total), RangeError);

      const store = n.BpfMap.create({ type: BPF_MAP_TYPE_ARRAY, name: 'xnt_store32hi', keySize: 4, valueSize: 4, maxEntries: 3000, flags: BPF_F_MMAPABLE });
      try {
        const words = (a: number[]) => Buffer.from(new Uint32Array(a).buffer);
        store.storeMmapU32(words([2999, 1500, 1024]), words([1, 2, 3])); // entries on the second to fifth pages only
        assert.deepEqual(
          [2999, 1500, 1024, 0, 1023].map((i) => store.lookup(u32(i))!.readUInt32LE(0)),
          [1, 2, 3, 0, 0],
        );
      } finally {
        store.close();
      }
    } finally {
      m.close();
    }
  });

  test('freeKeysMmap frees the ways that still hold the key read, zeroing the whole key, and no others', () => {
    const BPF_F_MMAPABLE = 1024;
    // 256-byte values like connection-table buckets of eight 32-byte ways; 40 of them span three pages.
    const m = n.BpfMap.create({ type: BPF_MAP_TYPE_ARRAY, name: 'xnt_freekeys', keySize: 4, valueSize: 256, maxEntries: 40, flags: BPF_F_MMAPABLE });
    try {
      const key = (i: number) => Buffer.from(Array.from({ length: 16 }, (_, j) => (i * 16 + j + 1) & 0xff));
      const val = Buffer.alloc(16, 0x77);
      const at = (bucket: number, way: number) => bucket * 256 + way * 32;
      const ways = [at(0, 0), at(17, 3), at(39, 7)];
      ways.forEach((o, i) => m.writeMmap(Buffer.concat([key(i), val]), o));
      m.writeMmap(Buffer.concat([key(9), val]), at(20, 1)); // another flow took this way since the walk read key 3
      const offs = (a: number[]) => Buffer.from(BigUint64Array.from(a, BigInt).buffer);
      const freed = m.freeKeysMmap(offs([...ways, at(20, 1)]), Buffer.concat([key(0), key(1), key(2), key(3)]), 16);
      assert.equal(freed, 3);
      for (const o of ways) assert.deepEqual(m.readMmap(o, 32), Buffer.concat([Buffer.alloc(16), val]), `way at ${o} freed, value kept`);
      assert.deepEqual(m.readMmap(at(20, 1), 16), key(9), 'a way holding another key is left alone');
      assert.equal(m.freeKeysMmap(offs(ways), Buffer.concat([key(0), key(1), key(2)]), 16), 0, 'a free way is not freed twice');
      assert.equal(m.freeKeysMmap(offs([]), Buffer.alloc(0), 16), 0);
      assert.throws(() => m.freeKeysMmap(offs([4]), key(0), 16), RangeError, 'an unaligned offset');
      assert.throws(() => m.freeKeysMmap(offs([0]), key(0), 12), RangeError, 'a key length not a multiple of 8');
      assert.throws(() => m.freeKeysMmap(offs([0, 32]), key(0), 16), RangeError, 'fewer keys than offsets');
      assert.throws(() => m.freeKeysMmap(offs([40 * 256 - 8]), key(0), 16), RangeError, 'a key past the end of the map');
    } finally {
      m.close();
    }
  });

  test('per-CPU maps return one 8-byte aligned slot per possible CPU', () => {
    const cpus = n.numPossibleCpus();
    const m = n.BpfMap.create({ type: BPF_MAP_TYPE_PERCPU_ARRAY, name: 'xnt_pcpu', keySize: 4, valueSize: 4, maxEntries: 2 });
    try {
      assert.equal(m.percpu, true);
      assert.equal(m.valueBufSize, 8 * cpus);
      const zero = m.lookup(u32(0));
      assert.ok(zero);
      assert.equal(zero.length, 8 * cpus);
      const v = Buffer.alloc(m.valueBufSize);
      for (let c = 0; c < cpus; c++) v.writeUInt32LE(100 + c, c * 8);
      m.update(u32(1), v);
      const got = m.lookup(u32(1));
      assert.ok(got);
      for (let c = 0; c < cpus; c++) assert.equal(got.readUInt32LE(c * 8), 100 + c, `cpu ${c}`);
      assert.equal(m.lookup(u32(2)), null, 'out-of-range array index is ENOENT, i.e. null');
    } finally {
      m.close();
    }
  });

  test('batch update, lookup and delete', () => {
    const m = n.BpfMap.create({ type: BPF_MAP_TYPE_HASH, name: 'xnt_batch', keySize: 4, valueSize: 8, maxEntries: 256 });
    try {
      const count = 100;
      const keys = Buffer.alloc(count * 4);
      const values = Buffer.alloc(count * 8);
      for (let i = 0; i < count; i++) {
        keys.writeUInt32LE(i + 1, i * 4);
        values.writeBigUInt64LE(BigInt(i + 1) * 7n, i * 8);
      }
      assert.equal(m.updateBatch(keys, values, count), count);
      assert.equal(m.updateBatch(keys, values, 0), 0);

      for (const batch of [undefined, 1, 7, 1000]) {
        const r = m.lookupBatch(batch);
        assert.equal(r.count, count, `batch size ${batch}`);
        assert.equal(r.keys.length, count * 4);
        assert.equal(r.values.length, count * 8);
        const seen = new Set<number>();
        for (let i = 0; i < r.count; i++) {
          const k = r.keys.readUInt32LE(i * 4);
          assert.equal(r.values.readBigUInt64LE(i * 8), BigInt(k) * 7n);
          seen.add(k);
        }
        assert.equal(seen.size, count);
      }

      // Missing keys are stepped over, like delete() returning false.
      const del = Buffer.alloc(52 * 4);
      for (let i = 0; i < 50; i++) del.writeUInt32LE(i + 1, i * 4);
      del.writeUInt32LE(5000, 50 * 4);
      del.writeUInt32LE(6000, 51 * 4);
      assert.equal(m.deleteBatch(del, 52), 50);
      assert.equal(m.lookupBatch().count, 50);
      assert.equal(m.lookup(u32(1)), null);
      assert.ok(m.lookup(u32(51)));

      const empty = n.BpfMap.create({ type: BPF_MAP_TYPE_HASH, name: 'xnt_empty', keySize: 4, valueSize: 8, maxEntries: 4 });
      assert.deepEqual(empty.lookupBatch(), { keys: Buffer.alloc(0), values: Buffer.alloc(0), count: 0 });
      empty.close();
    } finally {
      m.close();
    }
  });

  test('per-CPU batch lookup uses valueBufSize per entry', () => {
    const cpus = n.numPossibleCpus();
    const m = n.BpfMap.create({ type: BPF_MAP_TYPE_PERCPU_HASH, name: 'xnt_pbatch', keySize: 4, valueSize: 8, maxEntries: 8 });
    try {
      const keys = Buffer.concat([u32(1), u32(2), u32(3)]);
      const values = Buffer.alloc(3 * m.valueBufSize);
      for (let i = 0; i < 3; i++) for (let c = 0; c < cpus; c++) values.writeBigUInt64LE(BigInt(i * 100 + c), i * m.valueBufSize + c * 8);
      assert.equal(m.updateBatch(keys, values, 3), 3);
      const r = m.lookupBatch(2);
      assert.equal(r.count, 3);
      assert.equal(r.values.length, 3 * m.valueBufSize);
      for (let i = 0; i < 3; i++) {
        const k = r.keys.readUInt32LE(i * 4);
        assert.equal(r.values.readBigUInt64LE(i * m.valueBufSize + (cpus - 1) * 8), BigInt((k - 1) * 100 + cpus - 1));
      }
    } finally {
      m.close();
    }
  });

  test('pin to bpffs and openPinned', () => {
    const m = n.BpfMap.create({ type: BPF_MAP_TYPE_ARRAY, name: 'xnt_pin', keySize: 4, valueSize: 8, maxEntries: 4 });
    const pinPath = path.join(bpffs, 'xnt_pin');
    try {
      m.pin(pinPath);
      m.update(u32(3), u64(33n));
      const p = n.BpfMap.openPinned(pinPath);
      try {
        assert.equal(p.id, m.id);
        assert.equal(p.name, 'xnt_pin');
        assert.equal(p.maxEntries, 4);
        assert.deepEqual(p.lookup(u32(3)), u64(33n));
      } finally {
        p.close();
      }
      assert.throws(
        () => m.pin(pinPath),
        (e) => assertNativeError(e, 'EEXIST', 'bpf_obj_pin'),
      );
    } finally {
      m.close();
      fs.rmSync(pinPath, { force: true });
    }
  });

  test('error shape: a closed map and a missing pin path', () => {
    const m = n.BpfMap.create({ type: BPF_MAP_TYPE_HASH, name: 'xnt_closed', keySize: 4, valueSize: 4, maxEntries: 4 });
    m.close();
    assert.equal(m.fd, -1);
    assert.throws(
      () => m.lookup(u32(0)),
      (e) => {
        assertNativeError(e, 'EBADF', 'bpf_map_lookup_elem');
        assert.equal((e as NativeError).errno, 9);
        return true;
      },
    );
    assert.throws(
      () => m.update(u32(0), u32(0)),
      (e) => assertNativeError(e, 'EBADF', 'bpf_map_update_elem'),
    );
    assert.throws(
      () => m.lookupBatch(),
      (e) => assertNativeError(e, 'EBADF', 'bpf_map_lookup_batch'),
    );

    assert.throws(
      () => n.BpfMap.openPinned(path.join(bpffs, 'does-not-exist')),
      (e) => {
        assertNativeError(e, 'ENOENT', 'bpf_obj_get');
        assert.equal((e as NativeError).errno, 2);
        assert.match((e as Error).message, /does-not-exist/);
        return true;
      },
    );
    assert.throws(
      () => n.BpfMap.create({ type: BPF_MAP_TYPE_HASH, name: 'xnt_bad', keySize: 0, valueSize: 4, maxEntries: 4 }),
      (e) => assertNativeError(e, 'EINVAL', 'bpf_map_create'),
    );
    assert.throws(
      () => n.BpfMap.fromId(0x7ffffff0),
      (e) => assertNativeError(e, 'ENOENT', 'bpf_map_get_fd_by_id'),
    );
  });

  test('short buffers are refused before reaching the kernel', () => {
    const m = n.BpfMap.create({ type: BPF_MAP_TYPE_HASH, name: 'xnt_short', keySize: 8, valueSize: 8, maxEntries: 4 });
    try {
      assert.throws(() => m.lookup(Buffer.alloc(4)), RangeError);
      assert.throws(() => m.update(Buffer.alloc(8), Buffer.alloc(4)), RangeError);
      assert.throws(() => m.updateBatch(Buffer.alloc(8), Buffer.alloc(8), 2), RangeError);
      assert.throws(() => m.lookup('nope' as unknown as Buffer), TypeError);
    } finally {
      m.close();
    }
  });
});

describe('BpfObject and testRun', () => {
  test('opens and loads an XDP object, applying map sizes and flags', async () => {
    const obj = await n.BpfObject.open(okObj, { mapMaxEntries: { xnt_cnt: 8 }, mapFlags: { xnt_hash: BPF_F_NO_PREALLOC } });
    let cnt: BpfMap | undefined;
    try {
      assert.deepEqual(obj.programNames(), ['xnt_pass']);
      assert.deepEqual(obj.mapNames().sort(), ['xnt_cnt', 'xnt_hash']);
      assert.ok(obj.programFd('xnt_pass') > 2);
      cnt = obj.map('xnt_cnt');
      assert.equal(cnt.maxEntries, 8);
      const hash = obj.map('xnt_hash');
      assert.equal(hash.flags & BPF_F_NO_PREALLOC, BPF_F_NO_PREALLOC);
      hash.close();
      assert.throws(
        () => obj.programFd('nope'),
        (e) => assertNativeError(e, 'ENOENT', 'bpf_object__find_program_by_name'),
      );
      assert.throws(
        () => obj.map('nope'),
        (e) => assertNativeError(e, 'ENOENT', 'bpf_object__find_map_by_name'),
      );
    } finally {
      obj.close();
    }
    obj.close();
    assert.throws(
      () => obj.programNames(),
      (e) => (e as NativeError).code === 'EBADF',
    );
    // The map's own fd keeps the kernel map alive after the object is gone.
    assert.deepEqual(cnt.lookup(u32(0)), u64(0n));
    cnt.close();
  });

  test('rejects an unknown map in the options and a missing file', async () => {
    await assert.rejects(n.BpfObject.open(okObj, { mapMaxEntries: { nope: 4 } }), (e) => assertNativeError(e, 'ENOENT', 'bpf_object__find_map_by_name'));
    await assert.rejects(n.BpfObject.open(path.join(tmp, 'missing.o')), (e) => assertNativeError(e, 'ENOENT', 'bpf_object__open_file'));
  });

  test('a verifier-rejected program rejects with the verifier log', async () => {
    await assert.rejects(n.BpfObject.open(badObj), (e) => {
      assert.ok(e instanceof Error);
      const ne = e as NativeError;
      assert.equal(ne.syscall, 'bpf_object__load');
      assert.ok(ne.code === 'EACCES' || ne.code === 'EINVAL', `code ${ne.code}`);
      assert.match(ne.message, /xnt_bad/);
      assert.equal(typeof ne.log, 'string');
      assert.ok(ne.log!.length > 0, 'log is not empty');
      assert.match(ne.log!, /packet/);
      assert.doesNotMatch(ne.log!, /BEGIN PROG LOAD LOG/);
      return true;
    });
  });

  test('testRun returns XDP_PASS and the frame unchanged', async () => {
    const obj = await n.BpfObject.open(okObj);
    try {
      const fd = obj.programFd('xnt_pass');
      const data = Buffer.alloc(64);
      for (let i = 0; i < data.length; i++) data[i] = i;
      const r = await n.testRun(fd, { data, repeat: 5 });
      assert.equal(r.retval, XDP_PASS);
      assert.deepEqual(r.dataOut, data);
      assert.equal(typeof r.durationNs, 'number');
      const cnt = obj.map('xnt_cnt');
      assert.deepEqual(cnt.lookup(u32(0)), u64(5n), 'the program ran once per repeat');
      cnt.close();

      const one = await n.testRun(fd, { data });
      assert.equal(one.retval, XDP_PASS);

      await assert.rejects(n.testRun(fd, { data: Buffer.alloc(4) }), (e) => assertNativeError(e, 'EINVAL', 'bpf_prog_test_run_opts'));
    } finally {
      obj.close();
    }
  });
});

describe('XdpLink', () => {
  // Unique per process so parallel runs (and other test files) cannot collide.
  const if0 = `xnt${process.pid}a`;
  const if1 = `xnt${process.pid}b`;
  let obj: BpfObject | undefined;

  const xdpState = (): { mode: number; prog?: { name: string } } | undefined => {
    const j = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'dev', if0], { encoding: 'utf8' })) as Array<{
      xdp?: { mode: number; prog?: { name: string } };
    }>;
    return j[0]!.xdp;
  };

  before(async () => {
    execFileSync('ip', ['link', 'add', if0, 'type', 'veth', 'peer', 'name', if1]);
    execFileSync('ip', ['link', 'set', if0, 'up']);
    execFileSync('ip', ['link', 'set', if1, 'up']);
    obj = await n.BpfObject.open(okObj);
  });

  after(() => {
    obj?.close();
    // Deleting one end removes the pair, and any XDP still attached with it.
    try {
      execFileSync('ip', ['link', 'del', if0], { stdio: 'ignore' });
    } catch {
      // already gone (or never created)
    }
  });

  test('attach generic, pin, openPinned, detach', () => {
    const fd = obj!.programFd('xnt_pass');
    const link = n.XdpLink.attach(fd, if0, 'generic');
    const pinPath = path.join(bpffs, 'xnt_link');
    try {
      assert.equal(link.mode, 'generic');
      assert.equal(link.ifindex, Number(fs.readFileSync(`/sys/class/net/${if0}/ifindex`, 'utf8')));
      assert.ok(link.fd > 2);
      const st = xdpState();
      assert.equal(st?.mode, XDP_ATTACHED_SKB);
      assert.equal(st?.prog?.name, 'xnt_pass');

      link.pin(pinPath);
      link.close();
      assert.ok(xdpState(), 'a pinned link stays attached after close()');

      const again = n.XdpLink.openPinned(pinPath);
      assert.equal(again.mode, 'generic');
      assert.equal(again.ifindex, link.ifindex);
      assert.throws(
        () => n.BpfMap.openPinned(pinPath),
        (e) => assertNativeError(e, 'EINVAL', 'bpf_obj_get'),
      );
      again.detach();
      again.detach();
      assert.equal(xdpState(), undefined);
    } finally {
      link.close();
      fs.rmSync(pinPath, { force: true });
    }
  });

  test('attach auto prefers native and reports what it got', async () => {
    const fd = obj!.programFd('xnt_pass');
    const link = n.XdpLink.attach(fd, if0, 'auto');
    try {
      assert.ok(link.mode === 'native' || link.mode === 'generic');
      assert.equal(xdpState()?.mode, link.mode === 'native' ? XDP_ATTACHED_DRV : XDP_ATTACHED_SKB);
      assert.throws(
        () => n.XdpLink.attach(fd, if0, 'generic'),
        (e) => (e as NativeError).syscall === 'bpf_link_create',
      );

      // Live frames go out through the interface named in the context; the
      // ethertype is a local experimental one so nothing on the peer reacts.
      const frame = Buffer.alloc(64);
      frame.fill(0xff, 0, 6);
      frame.writeUInt16BE(0x88b5, 12);
      const r = await n.testRun(fd, { data: frame, live: true, repeat: 4, batchSize: 2, ingressIfindex: link.ifindex });
      assert.equal(r.dataOut.length, 0);
      const notLive = await n.testRun(fd, { data: frame, ingressIfindex: link.ifindex });
      assert.equal(notLive.retval, XDP_PASS);
      assert.deepEqual(notLive.dataOut, frame);
    } finally {
      link.detach();
    }
    assert.equal(xdpState(), undefined);
  });

  test('a missing interface is an ENODEV error', () => {
    const fd = obj!.programFd('xnt_pass');
    assert.throws(
      () => n.XdpLink.attach(fd, 'xnt-missing0', 'auto'),
      (e) => assertNativeError(e, 'ENODEV', 'if_nametoindex'),
    );
    assert.throws(
      () => n.XdpLink.openPinned(path.join(bpffs, 'no-link')),
      (e) => assertNativeError(e, 'ENOENT', 'bpf_obj_get'),
    );
  });
});
