// SPDX-License-Identifier: Apache-2.0
// syncmap.ts: connection sync between the datapath's view (ids, XLVS_CS_*) and the wire's (addresses, IPVS states): what a master sends, what a backup inserts.

import { type Config, stateTimeouts } from './config';
import { CONN_F, ipvsToXlvsState, type SyncConn, syncFlags, xlvsToIpvsState } from './ipvssync';
import { serviceTag } from './net/label';
import type { ObservedService } from './plan';
import type { SyncEvent, SyncInsert } from './syncdp';

interface SvcIds {
  id: number;
  persistTimeout: number;
  reals: Map<string, number>;
}

/**
 * The running services by (protocol, VIP, port) with their reals by address, built from what the datapath holds
 * (the controller's observed services), so a peer's entry lands on this director's own ids. Rebuilt when the
 * services change (the controller replaces its observed list on every applied plan).
 */
export class SyncIndex {
  private readonly svcs = new Map<string, SvcIds>();
  private readonly timeouts: number[];
  private lastKey = '';
  private lastSvc: SvcIds | undefined;

  constructor(
    readonly observed: readonly ObservedService[],
    config: Pick<Config, 'timeouts'>,
  ) {
    for (const s of observed)
      this.svcs.set(serviceTag({ vip: s.vip, port: s.port, protocol: s.proto }), {
        id: s.id,
        persistTimeout: s.persistTimeout ?? 0,
        reals: new Map(s.reals.map((r) => [r.address, r.id])),
      });
    this.timeouts = stateTimeouts(config.timeouts);
  }

  /**
   * A datapath event as the wire entry IPVS would send for it. dport is the VIP's port (direct routing keeps it);
   * timeout is the full timeout of the entry's state (IPVS sends cp->timeout), a template's its service's persistence.
   */
  toConn(ev: SyncEvent): SyncConn {
    return {
      protocol: ev.proto,
      flags: syncFlags(ev.state, ev.template),
      state: xlvsToIpvsState(ev.state, ev.proto, ev.template),
      caddr: ev.caddr,
      cport: ev.cport,
      vaddr: ev.vaddr,
      vport: ev.vport,
      daddr: ev.raddr,
      dport: ev.vport,
      fwmark: 0,
      timeout: ev.template
        ? (this.svcs.get(serviceTag({ vip: ev.vaddr, port: ev.vport, protocol: ev.proto }))?.persistTimeout ?? 0)
        : (this.timeouts[ev.state] ?? 0),
    };
  }

  /**
   * A received entry as this director's insert, or why it cannot be: no such service here, no such real in it, or a
   * kind xlvs does not run (firewall-mark services, forwarding other than direct routing).
   */
  toInsert(c: SyncConn): SyncInsert | 'no service' | 'no real' | 'unsupported' {
    if (c.fwmark || (c.flags & CONN_F.FWD_MASK) !== CONN_F.DROUTE) return 'unsupported';
    // Entries come in runs of one service: the last lookup is kept rather than a key built per entry.
    const key = serviceTag({ vip: c.vaddr, port: c.vport, protocol: c.protocol });
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.lastSvc = this.svcs.get(key);
    }
    const svc = this.lastSvc;
    if (!svc) return 'no service';
    const realId = svc.reals.get(c.daddr);
    if (realId === undefined) return 'no real';
    const template = (c.flags & CONN_F.TEMPLATE) !== 0;
    return {
      proto: c.protocol,
      caddr: c.caddr,
      cport: template ? 0 : c.cport,
      vaddr: c.vaddr,
      vport: c.vport,
      svcId: svc.id,
      realId,
      state: template ? 0 : ipvsToXlvsState(c.state, c.protocol, false),
      template,
    };
  }
}
