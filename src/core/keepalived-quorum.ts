// SPDX-License-Identifier: Apache-2.0
// keepalived-quorum.ts: a virtual_server's quorum, hysteresis and quorum hooks as xlvs's quorum, and its sorry_server, with where keepalived's weighing differs.

import type { ServiceConfig } from './config';
import { describe, type KaNode, scriptWords, shellNote } from './keepalived-parse';
import type { Note } from './keepalived-skips';
import { canonicalIp, isIPv6, isUsableUnicast } from './net/addr';

export interface QuorumNodes {
  quorum?: KaNode;
  hysteresis?: KaNode;
  up?: KaNode;
  down?: KaNode;
  sorry?: KaNode;
  sorryInhibit?: KaNode;
  sorryMethod?: KaNode;
}

/** The virtual_server statements convertQuorum reads, by slot. */
const QUORUM_SLOTS: Readonly<Record<string, keyof QuorumNodes>> = {
  quorum: 'quorum',
  hysteresis: 'hysteresis',
  quorum_up: 'up',
  quorum_down: 'down',
  sorry_server: 'sorry',
  sorry_server_inhibit: 'sorryInhibit',
  sorry_server_lvs_method: 'sorryMethod',
};

/** The QuorumNodes slot a virtual_server statement fills, if it is one convertQuorum reads. */
export function quorumSlot(key: string): keyof QuorumNodes | undefined {
  return Object.hasOwn(QUORUM_SLOTS, key) ? QUORUM_SLOTS[key] : undefined;
}

/**
 * quorum/hysteresis/quorum_up/quorum_down -> quorum, and sorry_server. keepalived's quorum is a total weight of live
 * reals, lost below quorum - hysteresis and regained at quorum + hysteresis; xlvs counts live reals, lost below min
 * and regained at min + hysteresis. With every real of weight w the two agree exactly.
 */
export function convertQuorum(svc: ServiceConfig, q: QuorumNodes, note: Note): void {
  const count = (n: KaNode | undefined, dflt: number, lo: number): number => {
    if (!n) return dflt;
    const v = Number(n.args[0]);
    if (Number.isInteger(v) && v >= lo) return v;
    note(
      n,
      `${n.args[0] ?? 'no value'} is not a whole number of at least ${lo} (keepalived refuses it too); keepalived's default, ${dflt}, is used`,
      undefined,
      'ignored',
    );
    return dflt;
  };
  const Q = count(q.quorum, 1, 1);
  const H = count(q.hysteresis, 0, 0);
  const lossAt = Math.max(1, Q - H);
  const nodes = [q.quorum, q.hysteresis, q.up, q.down].filter((n): n is KaNode => !!n);
  if (nodes.length && !svc.check) for (const n of nodes) note(n, 'quorum needs a health check on the service, and none was converted');
  else if (nodes.length) {
    const weights = svc.reals.map((r) => r.weight);
    const total = weights.reduce((a, b) => a + b, 0);
    const w = total > 0 ? total / weights.length : 1;
    const uniform = weights.every((x) => x === weights[0]);
    const min = Math.max(1, Math.ceil((Q - H) / w - 1e-9));
    const gain = Math.max(min, Math.ceil((Q + H) / w - 1e-9));
    const hook = (n: KaNode | undefined): string[] | undefined => {
      if (!n) return undefined;
      const [script, ...owner] = n.args;
      const argv = script === undefined ? [] : scriptWords(script);
      if (!argv.length) {
        note(n, 'no script given', undefined, 'ignored');
        return undefined;
      }
      if (owner.length) note(n, `keepalived ran it as ${owner.join(' ')}`, undefined, { as: "a hook run as xlvs's own user" });
      const sh = shellNote(script!);
      if (sh) note(n, sh, undefined, 'note');
      return argv;
    };
    const up = hook(q.up);
    const down = hook(q.down);
    svc.quorum = { min, hysteresis: gain - min, ...(up ? { up } : {}), ...(down ? { down } : {}) };
    // Exact when every real weighs the same, or when any one live real (of weight >= 1) is quorum enough.
    const exact = (uniform && total > 0) || (Q + H === 1 && weights.every((x) => x >= 1));
    if (!exact || min !== Q || gain - min !== H) {
      const weighs =
        total === 0
          ? 'the reals all weigh 0, so keepalived never has quorum; taken as weight 1 each'
          : exact
            ? `each real weighs ${w}`
            : `the weights (${weights.join(', ')}) differ: taken at their mean, ${Math.round(w * 100) / 100}`;
      note(
        q.quorum ?? nodes[0]!,
        `keepalived weighs the live reals: quorum is lost when their weight falls below ${lossAt} and regained when it reaches ${Q + H} (${weighs}); xlvs counts live reals`,
        undefined,
        { as: `quorum min ${min}, hysteresis ${gain - min}` },
      );
    }
  }

  const s = q.sorry;
  const [ip, p] = s?.args ?? [];
  const nonDr = q.sorryMethod && q.sorryMethod.args[0]?.toUpperCase() !== 'DR' ? q.sorryMethod : undefined;
  if (!s) {
    for (const n of [q.sorryInhibit, q.sorryMethod]) if (n) note(n, 'there is no sorry_server', undefined, 'ignored');
    return;
  }
  const refused =
    !ip || !(isUsableUnicast(ip) && isIPv6(ip) === isIPv6(svc.vip))
      ? `not an ${isIPv6(svc.vip) ? 'IPv6' : 'IPv4'} unicast address (the service's family): no sorry server`
      : svc.reals.some((r) => r.address === ip)
        ? `${ip} is also a real of the service, which xlvs refuses: no sorry server`
        : nonDr
          ? `${describe(nonDr)} (line ${nonDr.line}): xlvs reaches a sorry server by direct routing only: no sorry server`
          : undefined;
  if (refused) {
    note(s, refused);
    for (const n of [q.sorryInhibit, q.sorryMethod]) if (n && n !== nonDr) note(n, 'no sorry server was converted');
    return;
  }
  svc.sorry_server = canonicalIp(ip);
  const why: string[] = [];
  if (p !== undefined && Number(p) !== svc.port && svc.port !== 0)
    why.push(`direct routing delivers to the clients' own port, ${svc.port}, not ${p} (keepalived's DR did too)`);
  if (Q > 1 || H > 0)
    why.push(
      `keepalived puts it in place of every real ${lossAt > 1 ? `once the live reals' weight falls below ${lossAt}` : 'once no live weight is left'} and keeps it until that weight is back to ${Q + H}; xlvs gives it new connections only while every real is down`,
    );
  // A port keepalived's DR ignored too is nothing lost; a different quorum behaviour is an approximation.
  if (why.length) note(s, why.join('; '), undefined, Q > 1 || H > 0 ? { as: 'a sorry server used while every real is down' } : 'note');
  if (q.sorryInhibit)
    note(q.sorryInhibit, 'xlvs always does this: the sorry server stays in the datapath with weight 0 while any real is up', undefined, 'ignored');
}
