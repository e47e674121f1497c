// SPDX-License-Identifier: Apache-2.0
// daemonscale.ts: the daemon's controller at scale, in a child process of its own: apply N services x 10 reals from empty, resident memory, and how soon one weight change is in the datapath.

import { fork } from 'node:child_process';
import { Datapath } from '../src/adapters/datapath';
import { datapathPort } from '../src/adapters/datapathport';
import * as abi from '../src/core/abi';
import { validateConfig } from '../src/core/config';
import { Controller } from '../src/core/controller';
import { edits } from '../src/core/edits';

export interface DaemonScaleResult {
  services: number;
  reals_per_service: number;
  maglev_size: number;
  /** validate + plan + write everything, through the controller, from an empty datapath. */
  apply_ms: number;
  /** resident memory of the process holding the controller and the loaded datapath, after the apply. */
  rss_mib: number;
  /** One real's weight edited through the controller (what an API call does): until the call returns. */
  weight_change_median_ms: number;
  weight_change_p90_ms: number;
  weight_change_max_ms: number;
  /** The first change after the apply: the edit path's code runs cold (V8 compiles it), the apply's garbage may be collected in it. */
  weight_change_first_ms: number;
  /** Changes whose new weight the datapath already held on the first read after the call returned (writes are synchronous). */
  weight_visible_on_return: number;
  changes: number;
}

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function child(services: number, changes: number): Promise<DaemonScaleResult> {
  const reals = 10,
    maglevSize = 1021;
  // Raw, as `xlvs apply -f` hands it over: the controller validates it (once) as part of the apply.
  const cfg = {
    interface: 'eth0',
    conn_table_size: 65536,
    services: Array.from({ length: services }, (_, i) => ({
      vip: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
      port: 80,
      protocol: 'tcp' as const,
      maglev_size: maglevSize,
      reals: Array.from({ length: reals }, (_, j) => ({ address: `10.0.1.${11 + j}`, weight: 1 + j })),
    })),
  };
  const dp = await Datapath.load({ connTableSize: cfg.conn_table_size });
  try {
    const empty = validateConfig({ interface: 'eth0', conn_table_size: 65536 });
    const ctl = new Controller(empty, [], {
      datapath: datapathPort(dp, []),
      resolve: (a) => new Map(a.map((x) => [x, `02:00:00:00:01:${x.split('.')[3]!.padStart(2, '0')}`])),
      check: () => undefined,
      persist: () => undefined,
      log: () => undefined,
      now: () => Date.now(),
    });
    await ctl.sync();
    let t0 = process.hrtime.bigint();
    await ctl.apply(cfg, { persist: false });
    const applyMs = ms(t0);
    const rss = process.memoryUsage().rss / 2 ** 20;
    const lat: number[] = [];
    let visible = 0;
    for (let c = 0; c < changes; c++) {
      const svc = (c * 7919) % services;
      const s = cfg.services[svc]!;
      const weight = 100 + c;
      t0 = process.hrtime.bigint();
      await ctl.change(edits.editReal({ vip: s.vip, port: s.port, protocol: s.protocol }, { address: s.reals[0]!.address, weight }));
      lat.push(ms(t0));
      // The real's id is whatever the plan gave it: the controller's view of the datapath names it. One lookup: a
      // read of every real allocated enough to put the next change's timing beside a scavenge.
      const o = ctl.syncView().observed.find((x) => x.vip === s.vip && x.port === s.port)!;
      const id = o.reals.find((r) => r.address === s.reals[0]!.address)!.id;
      const r = abi.real.decode(dp.maps.xlvs_reals.lookup(abi.u32Key(id))!);
      if (r.svc_id === o.id && r.addr === abi.ipv4ToU32(s.reals[0]!.address) && r.weight === weight) visible++;
    }
    const first = lat[0]!;
    lat.sort((a, b) => a - b);
    return {
      services,
      reals_per_service: reals,
      maglev_size: maglevSize,
      apply_ms: applyMs,
      rss_mib: rss,
      weight_change_median_ms: lat[Math.floor(lat.length / 2)]!,
      weight_change_p90_ms: lat[Math.floor(lat.length * 0.9)]!,
      weight_change_max_ms: lat[lat.length - 1]!,
      weight_change_first_ms: first,
      weight_visible_on_return: visible,
      changes,
    };
  } finally {
    dp.close();
  }
}

/** Runs the measurement in a fresh process, so its RSS is the controller's and the datapath's alone. */
export function daemonScale(services: number, changes: number): Promise<DaemonScaleResult> {
  return new Promise((resolve, reject) => {
    const c = fork(__filename, ['--child', String(services), String(changes)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`daemon-scale child exited ${code}`));
      try {
        resolve(JSON.parse(out) as DaemonScaleResult);
      } catch (e) {
        reject(e);
      }
    });
  });
}

if (require.main === module && process.argv[2] === '--child') {
  child(Number(process.argv[3]), Number(process.argv[4])).then(
    (r) => process.stdout.write(JSON.stringify(r)),
    (e: Error) => {
      process.stderr.write(`${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}
