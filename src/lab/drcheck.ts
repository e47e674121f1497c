// SPDX-License-Identifier: Apache-2.0
// drcheck.ts: pure analyses for the DR lab: what a capture on the director's switch port shows, and how a split compares to the weights.
import * as fs from 'node:fs';
import { protoNumber } from '../core/net/proto';
import { assertEthernet, decodeEthIpv4, parsePcap } from './pcap';

export interface DirectorPortAnalysis {
  /** Frames switched to the director carrying the VIP as destination (client traffic via the router). */
  toDirector: number;
  /** Frames the director sent with the VIP as destination (what it forwarded). */
  fromDirector: number;
  /** Forwarded frames whose source MAC is not the director's. */
  badSrcMac: number;
  /** Forwarded frames whose destination MAC is not a real's. */
  badDstMac: number;
  /** Forwarded frames whose IP packet matches no frame that went to the director, byte for byte. */
  unmatched: number;
  /** Frames that went to the director for the VIP but never came back out (forwarded copies are matched one to one). */
  notForwarded: number;
  /** Frames carrying the VIP as source switched towards the director: a reply taking the wrong path. */
  vipSourcedToDirector: number;
  /** Forwarded frames per real name. */
  perReal: Record<string, number>;
  /** Distinct flows (client address and port) forwarded per real name. */
  flowsPerReal: Record<string, number>;
  /** Flows whose frames were sent to more than one real. */
  flowsSplitAcrossReals: number;
  /** A few hex dumps of offending frames, for diagnosis. */
  samples: string[];
}

function ethFrames(file: string): ReturnType<typeof decodeEthIpv4>[] {
  const pcap = parsePcap(fs.readFileSync(file));
  assertEthernet(pcap);
  return pcap.records.map((r) => decodeEthIpv4(r.data));
}

/**
 * Compares the two directions of the director's switch port: frames the switch sent to the director (toFile, a
 * capture of the port's egress) and frames the director sent (fromFile, the port's ingress). A DR director must
 * send each client packet on, unchanged from the IP header down, from its own MAC to a real's MAC.
 */
export function analyzeDirectorPort(
  files: { toFile: string; fromFile: string },
  o: { directorMac: string; realMacs: Map<string, string>; vip: string; protocol: 'tcp' | 'udp' },
): DirectorPortAnalysis {
  const proto = protoNumber(o.protocol);
  const dmac = o.directorMac.toLowerCase();
  const res: DirectorPortAnalysis = {
    toDirector: 0,
    fromDirector: 0,
    badSrcMac: 0,
    badDstMac: 0,
    unmatched: 0,
    notForwarded: 0,
    vipSourcedToDirector: 0,
    perReal: {},
    flowsPerReal: {},
    flowsSplitAcrossReals: 0,
    samples: [],
  };
  const sample = (f: { ip: Buffer; srcMac: string; dstMac: string }, why: string): void => {
    if (res.samples.length < 5) res.samples.push(`${why}: ${f.srcMac} > ${f.dstMac} ${f.ip.toString('hex')}`);
  };
  // The same bytes can legitimately appear twice (a retransmission), so inbound packets form a multiset.
  const inbound = new Map<string, number>();
  for (const f of ethFrames(files.toFile)) {
    if (!f) continue;
    if (f.srcIp === o.vip) {
      res.vipSourcedToDirector++;
      sample(f, 'vip-sourced to director');
    }
    if (f.dstIp !== o.vip || f.protocol !== proto) continue;
    res.toDirector++;
    const key = f.ip.toString('base64');
    inbound.set(key, (inbound.get(key) ?? 0) + 1);
  }
  const realOfFlow = new Map<string, Set<string>>();
  for (const f of ethFrames(files.fromFile)) {
    if (!f || f.dstIp !== o.vip || f.protocol !== proto) continue;
    res.fromDirector++;
    if (f.srcMac !== dmac) {
      res.badSrcMac++;
      sample(f, 'source MAC');
    }
    const key = f.ip.toString('base64');
    const left = inbound.get(key) ?? 0;
    if (left > 0) inbound.set(key, left - 1);
    else {
      res.unmatched++;
      sample(f, 'unmatched');
    }
    const real = o.realMacs.get(f.dstMac);
    if (real === undefined) {
      res.badDstMac++;
      sample(f, 'destination MAC');
      continue;
    }
    res.perReal[real] = (res.perReal[real] ?? 0) + 1;
    const flow = `${f.srcIp}:${f.srcPort}`;
    let set = realOfFlow.get(flow);
    if (!set) realOfFlow.set(flow, (set = new Set()));
    set.add(real);
  }
  for (const n of inbound.values()) res.notForwarded += n;
  for (const set of realOfFlow.values()) {
    if (set.size > 1) res.flowsSplitAcrossReals++;
    for (const r of set) res.flowsPerReal[r] = (res.flowsPerReal[r] ?? 0) + 1;
  }
  return res;
}

export interface SplitRow {
  name: string;
  weight: number;
  count: number;
  share: number;
  expected: number;
  /** share - expected, in percentage points. */
  deviationPp: number;
}

/** Compares observed counts per real with the shares the weights call for. */
export function splitRows(names: string[], weights: number[], counts: Record<string, number>): SplitRow[] {
  const totalW = weights.reduce((a, b) => a + b, 0);
  const totalC = names.reduce((a, n) => a + (counts[n] ?? 0), 0);
  return names.map((name, i) => {
    const count = counts[name] ?? 0;
    const share = totalC > 0 ? count / totalC : 0;
    const expected = totalW > 0 ? weights[i] / totalW : 0;
    return { name, weight: weights[i], count, share, expected, deviationPp: (share - expected) * 100 };
  });
}

export function formatSplitTable(title: string, rows: SplitRow[]): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const header = ['real', 'weight', 'count', 'share', 'expected', 'deviation'];
  const body = rows.map((r) => [
    r.name,
    String(r.weight),
    String(r.count),
    pct(r.share),
    pct(r.expected),
    `${r.deviationPp >= 0 ? '+' : ''}${r.deviationPp.toFixed(1)} pp`,
  ]);
  const total = rows.reduce((a, r) => a + r.count, 0);
  body.push(['total', String(rows.reduce((a, r) => a + r.weight, 0)), String(total), total ? '100.0%' : '-', '100.0%', '']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [title, line(header), sep, ...body.slice(0, -1).map(line), sep, line(body[body.length - 1])].join('\n');
}
