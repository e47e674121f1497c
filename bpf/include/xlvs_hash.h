/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* xlvs_hash.h: the flow hash that picks a Maglev bucket; src/core/flowhash.ts computes the same value for trace and tests. */
#ifndef XLVS_HASH_H
#define XLVS_HASH_H

#include <linux/types.h>

/*
 * MurmurHash3 (x86, 32-bit) over three 32-bit words, seeded with the IP
 * protocol. The words are the wire bytes of saddr, daddr and the 4-byte
 * port pair loaded as host-order (little-endian) u32s: no byte swaps on
 * the hot path, and every little-endian host computes the same bucket.
 */
static __always_inline __u32 xlvs_rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 xlvs_mix_word(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51u;
	k = xlvs_rotl32(k, 15);
	k *= 0x1b873593u;
	h ^= k;
	h = xlvs_rotl32(h, 13);
	return h * 5 + 0xe6546b64u;
}

static __always_inline __u32 xlvs_flow_hash(__u32 saddr, __u32 daddr, __u32 ports, __u32 proto)
{
	__u32 h = proto;

	h = xlvs_mix_word(h, saddr);
	h = xlvs_mix_word(h, daddr);
	h = xlvs_mix_word(h, ports);
	h ^= 12;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

#endif /* XLVS_HASH_H */
