// SPDX-License-Identifier: Apache-2.0
// keepalived-checks.ts: a virtual_server's checkers as the service's check plus an override for each real whose check differs; inhibit_on_failure as on_down: keep.

import { type CheckConfig, effectiveCheck, type RealConfig, type ServiceConfig } from './config';
import { CHECKERS, type CheckType, convertChecker } from './keepalived-checkers';
import { type KaNode, kaBool } from './keepalived-parse';
import type { Note } from './keepalived-skips';
import { isIP } from './net/addr';

const DR_HINT =
  "converted with mode: direct, as keepalived connects to the real's own address; mode: dr (xlvs's default for a tcp check: a SYN to VIP:port at the real's MAC, the path clients take) also fails a real that lost the VIP, and is recommended";
const INHIBIT =
  "keepalived sets a failed real's weight to 0 instead of removing it, so its connections go on; xlvs keeps a down real's connections unless on_down: expire, and the service says on_down: keep";

type CheckKey = keyof CheckConfig;
type Resolved = ReturnType<typeof effectiveCheck>;

/** Each check field with its name in the resolved check, in the order the YAML lists them. */
const FIELDS: [CheckKey, keyof Resolved][] = [
  ['type', 'type'],
  ['mode', 'mode'],
  ['interval_ms', 'intervalMs'],
  ['timeout_ms', 'timeoutMs'],
  ['rise', 'rise'],
  ['fall', 'fall'],
  ['jitter_ms', 'jitterMs'],
  ['initial', 'initial'],
  ['address', 'address'],
  ['port', 'port'],
  ['path', 'path'],
  ['status', 'status'],
  ['body_regex', 'bodyRegex'],
  ['host', 'host'],
  ['sni', 'sni'],
  ['verify', 'verify'],
  ['payload', 'payload'],
  ['expect', 'expect'],
  ['query_name', 'queryName'],
  ['query_type', 'queryType'],
  ['argv', 'argv'],
];
const COMMON: CheckKey[] = ['type', 'mode', 'interval_ms', 'timeout_ms', 'rise', 'fall', 'jitter_ms', 'initial'];
/** The fields a check of each type uses besides the common ones. */
const RELEVANT: Record<CheckType, CheckKey[]> = {
  tcp: ['address', 'port'],
  http: ['address', 'port', 'path', 'status', 'body_regex', 'host'],
  https: ['address', 'port', 'path', 'status', 'body_regex', 'host', 'sni', 'verify'],
  udp: ['address', 'port', 'payload', 'expect'],
  dns: ['address', 'port', 'query_name', 'query_type'],
  exec: ['argv'],
};

/**
 * The fields a real's `check` must set so that, over the service's check, it resolves like the real's own check:
 * empty when they are equivalent. A field the service sets and the real's check leaves at xlvs's default is set
 * back to what the default does; `lost` names those that cannot be (sni, with no host name to derive it from).
 */
function overrideFor(svc: ServiceConfig, base: CheckConfig, want: CheckConfig, real: RealConfig): { o: CheckConfig; lost: CheckKey[] } {
  const plain = { address: real.address, weight: real.weight };
  const goal = effectiveCheck({ ...svc, check: want }, plain);
  // The server name xlvs derives from the host when sni is unset (a name, never an address).
  const hostName = want.host?.startsWith('[') ? undefined : want.host?.replace(/:\d*$/, '');
  const neutral: Partial<Record<CheckKey, unknown>> = {
    address: real.address,
    port: svc.port,
    host: want.address ?? real.address,
    initial: 'up',
    jitter_ms: 0,
    body_regex: '',
    expect: '',
    payload: '',
    path: '/',
    status: [200],
    verify: true,
    query_name: '.',
    query_type: 'A',
    sni: hostName && !isIP(hostName) ? hostName : undefined,
  };
  const o: Record<string, unknown> = {};
  const lost: CheckKey[] = [];
  for (const [k, rk] of FIELDS) {
    if (!COMMON.includes(k) && !RELEVANT[goal.type].includes(k)) continue;
    const have = effectiveCheck({ ...svc, check: base }, { ...plain, check: o as CheckConfig });
    if (JSON.stringify(have[rk]) === JSON.stringify(goal[rk])) continue;
    const v = want[k] ?? neutral[k];
    if (v === undefined) lost.push(k);
    else o[k] = v;
  }
  return { o: o as CheckConfig, lost };
}

export interface RealBlock {
  real: RealConfig;
  node: KaNode;
  tuning: Map<string, KaNode>;
  checkers: KaNode[];
  /** The port the real_server statement names when it differs from the service's: keepalived's checkers probe it. */
  checkPort?: number;
}

/**
 * A virtual_server's checkers -> the service's check (the first real's converted check) and per-real overrides for
 * the reals whose checks differ; inhibit_on_failure -> on_down: keep. Inherited statements no converted check read
 * are listed.
 */
export function convertChecks(svc: ServiceConfig, vsLevel: Map<string, KaNode>, reals: RealBlock[], note: Note): void {
  const used = new Set<KaNode>();
  const wanted: (CheckConfig | undefined)[] = [];
  let first: CheckConfig | undefined;
  const inhibits: KaNode[] = [];
  for (const rb of reals) {
    let got: { check: CheckConfig; node: KaNode } | undefined;
    for (const ck of rb.checkers) {
      if (got && CHECKERS.get(ck.key)) {
        note(ck, `xlvs runs one check per real, here the ${got.node.key} of line ${got.node.line}; keepalived also needed this one to pass`, ck.key);
        continue;
      }
      const r = convertChecker(ck, { svc, realLevel: rb.tuning, vsLevel, note, ...(rb.checkPort ? { port: rb.checkPort } : {}) });
      if (!r) continue;
      got = { check: r.check, node: ck };
      for (const u of r.used) used.add(u);
      if (r.check.type === 'tcp' && svc.protocol === 'tcp' && r.check.address === undefined) note(ck, DR_HINT, ck.key, 'note');
    }
    wanted.push(got?.check);
    first ??= got?.check;
    const inh = got && (rb.tuning.get('inhibit_on_failure') ?? vsLevel.get('inhibit_on_failure'));
    if (inh) {
      used.add(inh);
      const on = kaBool(inh);
      if (on === undefined) note(inh, `${inh.args[0]} is not yes/no (keepalived refuses it too)`, undefined, 'ignored');
      else if (on) inhibits.push(inh);
    }
  }
  for (const n of [...vsLevel.values(), ...reals.flatMap((rb) => [...rb.tuning.values()])]) {
    if (!used.has(n))
      note(n, first ? 'no converted health check uses it' : 'no health check was converted for this virtual_server', undefined, first ? 'ignored' : 'dropped');
  }
  if (!first) return;
  // connect_ip names one real's own target: it stays with that real, and a real with no check of its own is probed
  // at its own address.
  const base: CheckConfig = { ...first };
  delete base.address;
  svc.check = base;
  reals.forEach((rb, i) => {
    const want = wanted[i];
    if (!want)
      note(
        rb.node,
        `${rb.checkers.length ? 'none of its checkers was converted' : 'keepalived does not check it (it is always up there)'}; xlvs checks every real of a checked service`,
        undefined,
        { as: "a real with the service's check" },
      );
    const { o, lost } = overrideFor(svc, base, want ?? base, rb.real);
    if (Object.keys(o).length) rb.real.check = o;
    if (lost.length)
      note(rb.node, `its check cannot drop the service check's ${lost.join(', ')}`, undefined, {
        as: `a check with the service's ${lost.map((k) => `${k} ${JSON.stringify(base[k])}`).join(', ')}`,
      });
  });
  if (inhibits.length) {
    svc.on_down = 'keep';
    for (const n of inhibits) note(n, INHIBIT, undefined, { as: 'on_down: keep' });
  }
}
