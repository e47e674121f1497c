// SPDX-License-Identifier: Apache-2.0
// ringbuffer.test.ts: the addon's RingBuffer on a real ring buffer map (xlvs_syncq, filled by the XDP program): records, limits, timeouts, close and errors.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Datapath } from '../../src/adapters/datapath';
import { BPF_MAP_TYPE_ARRAY, type NativeError, native } from '../../src/adapters/native';
import { Provisioner } from '../../src/adapters/provision';
import * as abi from '../../src/core/abi';
import { parseConfig } from '../../src/core/config';
import { DIRECTOR_MAC, frame, SYN } from '../lib/packets';
import { requirePrivileges } from '../lib/privileged';

let dp: Datapath | undefined;
let sent = 0;

before(async () => {
  requirePrivileges('RingBuffer host tests');
  const cfg = parseConfig(
    'interface: eth0\nconn_table_size: 65536\nservices:\n  - vip: 10.0.0.100\n    port: 80\n    reals:\n      - { address: 10.0.0.11 }\n',
  );
  dp = await Datapath.load({ connTableSize: cfg.conn_table_size });
  dp.setDirectorMac(DIRECTOR_MAC);
  new Provisioner(dp).apply(cfg, () => '02:00:00:00:00:11', new Set(), { emit: true });
});
after(() => dp?.close());

/** n new connections: one sync record each. */
async function emit(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    sent++;
    await native().testRun(dp!.programFd(), {
      data: frame({ saddr: `198.18.${sent >> 8}.${sent & 255}`, sport: 1000, daddr: '10.0.0.100', dport: 80, tcpFlags: SYN }),
    });
  }
}

function ring() {
  const m = dp!.objectMap('xlvs_syncq');
  try {
    return new (native().RingBuffer)(m.fd);
  } finally {
    m.close(); // the ring keeps its own duplicate of the fd
  }
}

function assertNativeError(e: unknown, code: string, syscall: string): true {
  const ne = e as NativeError;
  assert.equal(ne.code, code);
  assert.equal(typeof ne.errno, 'number');
  assert.equal(ne.syscall, syscall);
  return true;
}

test('poll: whole records concatenated, in order; maxBytes ends a drain after the record that reaches it', async () => {
  const rb = ring();
  try {
    await emit(5);
    const size = abi.syncRec.size;
    const two = await rb.poll(100, size + 1);
    assert.equal(two.length, 2 * size);
    const rest = await rb.poll(100, 1 << 20);
    assert.equal(rest.length, 3 * size);
    const clients = [two, rest].flatMap((b) => Array.from({ length: b.length / size }, (_, i) => abi.syncRec.decode(b, i * size)));
    assert.deepEqual(
      clients.map((r) => abi.connKey.decode(r.key).saddr & 0xff),
      [1, 2, 3, 4, 5],
    );
    for (const r of clients) assert.ok(r.stamp > 0n && r.stamp <= process.hrtime.bigint());
  } finally {
    rb.close();
  }
});

test('poll: an empty Buffer once the timeout passes; close() ends a pending poll at once; one poll at a time', async () => {
  const rb = ring();
  const t0 = Date.now();
  assert.equal((await rb.poll(150, 4096)).length, 0);
  assert.ok(Date.now() - t0 >= 140, `returned after ${Date.now() - t0} ms`);
  const pending = rb.poll(10_000, 4096);
  assert.throws(
    () => rb.poll(10, 4096),
    (e) => assertNativeError(e, 'EBUSY', 'ring_buffer__poll'),
  );
  const t1 = Date.now();
  rb.close();
  assert.equal((await pending).length, 0);
  assert.ok(Date.now() - t1 < 1000, 'close did not wait out the timeout');
  assert.throws(
    () => rb.poll(10, 4096),
    (e) => assertNativeError(e, 'EBADF', 'ring_buffer__poll'),
  );
  rb.close(); // twice is fine
});

test('a record produced during a poll wakes it', async () => {
  const rb = ring();
  try {
    const pending = rb.poll(5000, 1 << 20);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await emit(1);
    assert.equal((await pending).length, abi.syncRec.size);
    assert.ok(Date.now() - t0 < 1000);
  } finally {
    rb.close();
  }
});

test('new RingBuffer: a map of another type and a closed fd are errors with code, errno and syscall', () => {
  const arr = native().BpfMap.create({ type: BPF_MAP_TYPE_ARRAY, name: 'rb_not_ring', keySize: 4, valueSize: 4, maxEntries: 1 });
  try {
    assert.throws(
      () => new (native().RingBuffer)(arr.fd),
      (e) => assertNativeError(e, 'EINVAL', 'ring_buffer__new'),
    );
  } finally {
    arr.close();
  }
  assert.throws(
    () => new (native().RingBuffer)(987654),
    (e) => assertNativeError(e, 'EBADF', 'fcntl'),
  );
});
