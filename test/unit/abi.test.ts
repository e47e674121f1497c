// abi.test.ts: the TypeScript codecs agree with xlvs_abi.h as compiled into the native addon (sizes, field offsets, constants).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as abi from '../../src/core/abi';
import { native } from '../../src/adapters/native';

test('every struct has the size and field offsets the C compiler gave it', () => {
  const c = native().abi.structs;
  assert.deepEqual(Object.keys(c).sort(), abi.structs.map((s) => s.name).sort());
  for (const s of abi.structs) {
    const cs = c[s.name]!;
    assert.equal(s.size, cs.size, `${s.name} size`);
    assert.deepEqual(
      Object.fromEntries(s.fields.map((f) => [f.name, { offset: f.offset, size: f.size }])),
      cs.fields,
      `${s.name} fields`,
    );
  }
});

test('every constant matches its #define', () => {
  assert.deepEqual(native().abi.constants, abi.constants);
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
