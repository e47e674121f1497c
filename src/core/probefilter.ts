// SPDX-License-Identifier: Apache-2.0
// probefilter.ts: the classic BPF filter a probe's packet socket carries: ARP, and IP frames to the probed addresses only.

import { isIPv4, isIPv6 } from './net/addr';
import { ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, ipv4ToInt, ipv6Bytes } from './packets';

// Classic BPF opcodes (linux/filter.h).
const BPF_LD_H_ABS = 0x28;
const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_RET_K = 0x06;

/**
 * A classic BPF program for a packet socket that keeps every ARP frame and the untagged IPv4 and IPv6 frames addressed
 * to one of `addresses` (either family), so a probe on a busy NIC does not copy its whole traffic into user space.
 * Instructions are laid out as struct sock_filter in the host's byte order.
 */
export function probeFilter(addresses: string[], endianness: 'LE' | 'BE'): Buffer {
  if (addresses.length === 0 || addresses.length > 200) throw new Error(`probeFilter: ${addresses.length} addresses (1..200)`);
  const v4 = addresses.filter((a) => isIPv4(a));
  const v6 = addresses.filter((a) => isIPv6(a));
  if (v4.length + v6.length !== addresses.length) throw new Error(`probeFilter: not an IP address in ${JSON.stringify(addresses)}`);
  type Insn = [code: number, jt: number, jf: number, k: number];
  // Layout: 0 ldh ethertype; 1 ARP? accept; 2 IPv4? V4; 3 IPv6? V6 else drop;
  // V4 (4): ld daddr, one compare per IPv4 address, drop; V6: per IPv6 address its four words (ld, jeq) in turn, a
  // mismatch going on to the next address; then drop, accept.
  const V4 = 4;
  const V6 = V4 + 2 + v4.length;
  const drop = V6 + 8 * v6.length;
  const accept = drop + 1;
  // Jump offsets count from the next instruction and are 8 bits wide.
  const jump = (from: number, to: number): number => {
    const off = to - from - 1;
    if (off < 0 || off > 255) throw new Error(`probeFilter: too many addresses for cBPF's 8-bit jumps (${v4.length} IPv4, ${v6.length} IPv6)`);
    return off;
  };
  const prog: Insn[] = [
    [BPF_LD_H_ABS, 0, 0, 12],
    [BPF_JEQ_K, jump(1, accept), 0, ETH_P_ARP],
    [BPF_JEQ_K, jump(2, V4), 0, ETH_P_IP],
    [BPF_JEQ_K, jump(3, V6), jump(3, drop), ETH_P_IPV6],
    [BPF_LD_W_ABS, 0, 0, 30],
    ...v4.map((a, i): Insn => [BPF_JEQ_K, jump(V4 + 1 + i, accept), 0, ipv4ToInt(a)]),
    [BPF_RET_K, 0, 0, 0],
    ...v6.flatMap((a, j): Insn[] => {
      const b = ipv6Bytes(a);
      const base = V6 + 8 * j;
      return [0, 1, 2, 3].flatMap((w): Insn[] => {
        const at = base + 2 * w + 1;
        // The IPv6 destination address starts at byte 14 + 24 = 38.
        return [
          [BPF_LD_W_ABS, 0, 0, 38 + 4 * w],
          [BPF_JEQ_K, w === 3 ? jump(at, accept) : 0, jump(at, base + 8), b.readUInt32BE(4 * w)],
        ];
      });
    }),
    [BPF_RET_K, 0, 0, 0],
    [BPF_RET_K, 0, 0, 0x40000],
  ];
  const out = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    if (endianness === 'LE') {
      out.writeUInt16LE(code, i * 8);
      out.writeUInt32LE(k >>> 0, i * 8 + 4);
    } else {
      out.writeUInt16BE(code, i * 8);
      out.writeUInt32BE(k >>> 0, i * 8 + 4);
    }
    out[i * 8 + 2] = jt;
    out[i * 8 + 3] = jf;
  });
  return out;
}
