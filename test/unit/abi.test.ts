// SPDX-License-Identifier: Apache-2.0
// abi.test.ts: the TypeScript codecs and limits agree with what the compiler made of xlvs_abi.h (the BTF and maps of build/bpf/xlvs.o) and with its #defines.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { compiledStruct, objectMaps } from '../../src/adapters/btf';
import { objectPath } from '../../src/adapters/datapath';
import { BPF_F_INNER_MAP, BPF_F_MMAPABLE, BPF_MAP_TYPE_ARRAY, type ObjectMap, repoRoot } from '../../src/adapters/native';
import { MAP_NAMES, UNPINNED_MAPS } from '../../src/adapters/pinned';
import * as abi from '../../src/core/abi';
import { layoutDifferences } from '../../src/core/abicheck';

const obj = objectPath();
const where = path.relative(repoRoot(), obj);

/** Fails with one line per problem, so a drifted field reads as the field, not as a diff of two arrays. */
function assertNone(problems: string[]): void {
  assert.equal(problems.length, 0, `\n${problems.join('\n')}`);
}

function mapsWithInner(): ObjectMap[] {
  return objectMaps(obj).flatMap((m) => (m.inner ? [m, m.inner] : [m]));
}

test('every codec has the size and field offsets the compiler gave its struct', () => {
  assertNone(abi.structs.flatMap((s) => layoutDifferences(s, compiledStruct(obj, s.name), where)));
});

test('a codec that drifts from the object is named field by field', () => {
  const real = compiledStruct(obj, 'xlvs_svc')!;
  const drifted = { ...abi.svc, fields: abi.svc.fields.map((f) => (f.name === 'persist_timeout' ? { ...f, offset: 20 } : f)) };
  assert.deepEqual(layoutDifferences(drifted, real, where), [`xlvs_svc.persist_timeout: offset 20, 4 bytes in abi.ts; offset 16, 4 bytes in ${where}`]);
  const lessOne = { ...abi.svc, fields: abi.svc.fields.filter((f) => f.name !== 'flags') };
  assert.deepEqual(layoutDifferences(lessOne, real, where), [`xlvs_svc.flags: offset 4, 4 bytes in ${where}, missing from the codec in abi.ts`]);
  const holey = { ...real, size: 28, members: real.members.filter((m) => m.name !== 'pad') };
  assert.deepEqual(layoutDifferences({ ...abi.svc, size: 28 }, holey, where), [
    'xlvs_svc: bytes 14-15 are padding the compiler added before persist_timeout; declare a pad field',
    'xlvs_svc: bytes 24-27 are padding the compiler added at the end; declare a pad field',
    `xlvs_svc.pad: in the codec in abi.ts, not a field of xlvs_svc in ${where}`,
  ]);
  assert.deepEqual(layoutDifferences(abi.svc, null, where), [`xlvs_svc: a codec in abi.ts, but ${where} has no struct xlvs_svc`]);
});

test('every struct a map of the object holds has a codec of its size', () => {
  const codecs = new Map(abi.structs.map((s) => [s.name, s]));
  const problems: string[] = [];
  for (const m of mapsWithInner()) {
    for (const [type, size, what] of [
      [m.keyType, m.keySize, 'key'],
      [m.valueType, m.valueSize, 'value'],
    ] as const) {
      if (type === null) continue;
      const c = codecs.get(type);
      if (!c) problems.push(`${m.name}: its ${what} is struct ${type}, which has no codec in abi.ts`);
      else if (c.size !== size) problems.push(`${m.name}: ${what} ${size} bytes, codec ${type} ${c.size}`);
    }
  }
  assertNone(problems);
});

test('the object declares exactly the maps the control plane opens and pins', () => {
  assert.deepEqual(
    objectMaps(obj)
      .map((m) => m.name)
      .sort(),
    [...MAP_NAMES, ...UNPINNED_MAPS].sort(),
  );
});

test('map sizes are the limits of abi.ts', () => {
  const want: Record<string, number> = {
    xlvs_svc: abi.MAX_SERVICES,
    xlvs_conn: abi.CONN_DEFAULT_MAX / abi.CT_WAYS,
    xlvs_reals: abi.MAX_REALS,
    xlvs_rconn: abi.MAX_REALS,
    xlvs_tbl: abi.MAX_SERVICES,
    xlvs_pos: abi.MAX_SERVICES,
    xlvs_persist: abi.persistTableSize(abi.CONN_DEFAULT_MAX),
    xlvs_cfg: 1,
    xlvs_st_svc: abi.MAX_SERVICES,
    xlvs_st_real: abi.MAX_REALS,
    xlvs_verdicts: 1,
    xlvs_sweepst: 1,
    xlvs_syncq: abi.SYNCQ_BYTES,
    xlvs_svc6: abi.MAX_SERVICES,
    xlvs_conn6: abi.CONN6_DEFAULT_MAX / abi.CT6_WAYS,
    xlvs_persist6: abi.persistTableSize(abi.CONN6_DEFAULT_MAX),
    xlvs_raddr6: abi.MAX_REALS,
    xlvs_scratch6: 1,
    xlvs_ncb: 1,
    xlvs_svcc: abi.SVCC_SLOTS,
    xlvs_svcc6: abi.SVCC_SLOTS,
    xlvs_seen: abi.CONN_DEFAULT_MAX / abi.CT_WAYS / abi.SEEN_PER_WORD,
    xlvs_seen6: abi.CONN6_DEFAULT_MAX / abi.CT6_WAYS / abi.SEEN_PER_WORD,
    xlvs_tblmarked: abi.MAX_SERVICES,
    xlvs_ctgeo: 1,
    xlvs_ctgeo6: 1,
  };
  const maps = objectMaps(obj);
  assert.deepEqual(Object.fromEntries(maps.map((m) => [m.name, m.maxEntries])), want);
  // The control plane makes each schedule table itself (datapath.ts tableMap); the kernel wants it shaped like the template.
  const inner = maps.find((m) => m.name === 'xlvs_tbl')!.inner!;
  assert.deepEqual(
    { type: inner.type, keySize: inner.keySize, valueSize: inner.valueSize, maxEntries: inner.maxEntries, flags: inner.flags },
    { type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: abi.MH_DEFAULT_SIZE, flags: BPF_F_INNER_MAP | BPF_F_MMAPABLE },
  );
});

/**
 * The value of each `#define XLVS_*` of the header as C computes it: unsigned literals, parentheses, | << >> + - * /
 * and earlier defines. Anything else throws, so a new kind of define cannot slip past unchecked.
 */
function headerDefines(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  const source = text.replace(/\/\*[\s\S]*?\*\//g, ' ');
  for (const m of source.matchAll(/^#define (XLVS_\w+)[ \t]+(\S.*?)\s*$/gm)) {
    const [, name, expr] = m as unknown as [string, string, string];
    const tokens = [...expr.matchAll(/\s*(0x[0-9a-f]+|\d+)u?|\s*(<<|>>|[()|+\-*/])|\s*(XLVS_\w+)|\s*(\S)/gi)];
    let i = 0;
    const fail = (why: string): never => {
      throw new Error(`#define ${name} ${expr}: ${why}`);
    };
    const atom = (): bigint => {
      const t = tokens[i++] ?? fail('ends early');
      if (t[1]) return BigInt(t[1]);
      if (t[3]) return t[3] in out ? BigInt(out[t[3]]!) : fail(`${t[3]} is not defined above it`);
      if (t[2] === '(') {
        const v = binary(0);
        if (tokens[i++]?.[2] !== ')') fail('unbalanced parentheses');
        return v;
      }
      return fail(`cannot evaluate ${JSON.stringify(t[0].trim())}`);
    };
    const levels = [['|'], ['<<', '>>'], ['+', '-'], ['*', '/']];
    const binary = (level: number): bigint => {
      if (level === levels.length) return atom();
      let v = binary(level + 1);
      while (i < tokens.length && levels[level]!.includes(tokens[i]![2] ?? '')) {
        const op = tokens[i++]![2];
        const r = binary(level + 1);
        v = op === '|' ? v | r : op === '<<' ? v << r : op === '>>' ? v >> r : op === '+' ? v + r : op === '-' ? v - r : op === '*' ? v * r : v / r;
        v &= 0xffffffffn; // unsigned int arithmetic
      }
      return v;
    };
    const value = binary(0);
    if (i !== tokens.length) fail('trailing tokens');
    out[name] = Number(value);
  }
  return out;
}

test('every #define of the header has its value in abi.ts', () => {
  const header = fs.readFileSync(path.join(repoRoot(), 'bpf', 'include', 'xlvs_abi.h'), 'utf8');
  assert.deepEqual(abi.constants, headerDefines(header));
});

test('the template table is sized from the connection table in one place', () => {
  assert.equal(abi.persistTableSize(abi.CONN_DEFAULT_MAX), abi.CONN_DEFAULT_MAX / abi.PERSIST_RATIO);
  assert.equal(abi.persistTableSize(1024), abi.PERSIST_MIN);
  assert.equal(abi.persistTableSize(1 << 26), (1 << 26) >> 4);
});

test('codecs round-trip and write wire-order fields big-endian', () => {
  const k = abi.svcKey.encode({ vip: abi.ipv4ToU32('10.0.0.100'), port: 80, proto: abi.IPPROTO_TCP });
  assert.deepEqual([...k], [10, 0, 0, 100, 0, 80, 6, 0]);
  assert.deepEqual(abi.svcKey.decode(k), { vip: abi.ipv4ToU32('10.0.0.100'), port: 80, proto: 6 });
  const r = { mac: '02:aa:bb:cc:dd:ee', flags: 3, addr: abi.ipv4ToU32('10.0.0.11'), svc_id: 7, weight: 65535, u_threshold: 100, l_threshold: 50 };
  assert.deepEqual(abi.real.decode(abi.real.encode(r)), r);
});

test('per-CPU sums add every CPU slot', () => {
  const one = abi.counters.encode({ packets: 2n, bytes: 100n, conns: 1n, drops: 0n });
  assert.deepEqual(abi.sumPerCpu(abi.counters, Buffer.concat([one, one, one]), 3), { packets: 6n, bytes: 300n, conns: 3n, drops: 0n });
});
