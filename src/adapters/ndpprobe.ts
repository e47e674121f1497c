// SPDX-License-Identifier: Apache-2.0
// ndpprobe.ts: the doctor's NDP probe: a neighbour solicitation for an IPv6 VIP from the director's own address, and the MACs that advertise it back.

import * as os from 'node:os';
import { buildNeighborSolicit, ETH_P_IPV6, ndpFilter, parseNdp } from '../core/ndp';
import { canonicalIp } from '../core/net/addr';
import { native } from './native';

/**
 * Solicits vip from src6 (the director's own global IPv6 address) at its solicited-node group and gathers for ms the
 * MACs of every advertisement for it: the hosts that claim the VIP. Its own socket, filtered to NDP.
 */
export async function ndpVipProbe(ifindex: number, dirMac: string, src6: string, vip: string, ms: number): Promise<string[]> {
  const sock = new (native().PacketSocket)(ifindex, { protocol: ETH_P_IPV6, filter: ndpFilter(os.endianness()) });
  const want = canonicalIp(vip);
  const macs: string[] = [];
  try {
    sock.send(buildNeighborSolicit(dirMac, src6, vip));
    for (const end = Date.now() + ms; Date.now() < end; ) {
      const b = await sock.recv(Math.max(1, end - Date.now()));
      const f = b ? parseNdp(b) : null;
      if (f?.type === 'na' && canonicalIp(f.target) === want) macs.push((f.lladdr ?? f.ethSrc).toLowerCase());
    }
  } finally {
    sock.close();
  }
  return macs;
}
