// drcheck.ts: pure analyses for the DR lab: what a capture on the director's switch port shows, and how a split compares to the weights.
import * as fs from 'node:fs';
import { assertEthernet, decodeEthIpv4, parsePcap } from './pcap';

export interface DirectorPortAnalysis {
  /** IPv4 frames addressed to the director's MAC with the VIP as destination (client traffic via the router). */
  toDirector: number;
  /** IPv4 frames with the director's source MAC and the VIP as destination (what the director forwarded). */
  fromDirector: number;
  /** Forwarded frames whose destination MAC is not a real's. */
  badDstMac: number;
  /** Forwarded frames whose IP packet matches no frame that went to the director, byte for byte. */
  unmatched: number;
  /** Frames that went to the director for the VIP but never came back out (forwarded copies are matched one to one). */
  notForwarded: number;
  /** Frames carrying the VIP as source towards the director: a reply taking the wrong path. */
  vipSourcedToDirector: number;
  /** Forwarded frames per real name. */
  perReal: Record<string, number>;
  /** Distinct flows (client address and port) forwarded per real name. */
  flowsPerReal: Record<string, number>;
  /** Flows (by client address and port) whose frames were sent to more than one real. */
  flowsSplitAcrossReals: number;
  /** A few hex dumps of unmatched frames, for diagnosis. */
  samples: string[];
}

export function analyzeDirectorPort(
  pcapFile: string,
  o: { directorMac: string; realMacs: Map<string, string>; vip: string; protocol: 'tcp' | 'udp' },
): DirectorPortAnalysis {
  const pcap = parsePcap(fs.readFileSync(pcapFile));
  assertEthernet(pcap);
  const proto = o.protocol === 'tcp' ? 6 : 17;
  const dmac = o.directorMac.toLowerCase();
  const res: DirectorPortAnalysis = {
    toDirector: 0,
    fromDirector: 0,
    badDstMac: 0,
    unmatched: 0,
    notForwarded: 0,
    vipSourcedToDirector: 0,
    perReal: {},
    flowsPerReal: {},
    flowsSplitAcrossReals: 0,
    samples: [],
  };
  // The same bytes can legitimately appear twice (a retransmission), so inbound packets form a multiset.
  const inbound = new Map<string, number>();
  const forwarded: { key: string; real: string | undefined; flow: string; hex: string }[] = [];
  for (const rec of pcap.records) {
    const f = decodeEthIpv4(rec.data);
    if (!f) continue;
    if (f.dstMac === dmac && f.srcIp === o.vip) res.vipSourcedToDirector++;
    if (f.dstIp !== o.vip || f.protocol !== proto) continue;
    const key = f.ip.toString('base64');
    if (f.dstMac === dmac) {
      res.toDirector++;
      inbound.set(key, (inbound.get(key) ?? 0) + 1);
    } else if (f.srcMac === dmac) {
      res.fromDirector++;
      forwarded.push({ key, real: o.realMacs.get(f.dstMac), flow: `${f.srcIp}:${f.srcPort}`, hex: f.ip.toString('hex') });
    }
  }
  const realOfFlow = new Map<string, Set<string>>();
  for (const fw of forwarded) {
    const left = inbound.get(fw.key) ?? 0;
    if (left > 0) inbound.set(fw.key, left - 1);
    else {
      res.unmatched++;
      if (res.samples.length < 3) res.samples.push(fw.hex);
    }
    if (fw.real === undefined) {
      res.badDstMac++;
      continue;
    }
    res.perReal[fw.real] = (res.perReal[fw.real] ?? 0) + 1;
    let set = realOfFlow.get(fw.flow);
    if (!set) realOfFlow.set(fw.flow, (set = new Set()));
    set.add(fw.real);
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
