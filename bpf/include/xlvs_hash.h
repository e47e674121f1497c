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

/* MurmurHash3's finalizer, after len bytes were mixed. */
static __always_inline __u32 xlvs_hash_final(__u32 h, __u32 len)
{
	h ^= len;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 xlvs_flow_hash(__u32 saddr, __u32 daddr, __u32 ports, __u32 proto)
{
	__u32 h = proto;

	h = xlvs_mix_word(h, saddr);
	h = xlvs_mix_word(h, daddr);
	h = xlvs_mix_word(h, ports);
	return xlvs_hash_final(h, 12);
}

/*
 * IPv6: the same hash over nine words (both addresses whole, then the ports), so clients of one /64, which differ only
 * in their last 8 bytes, spread as IPv4 clients do, and a seed keeps them from aiming at one connection-table bucket.
 */
static __always_inline __u32 xlvs_flow_hash6(const __u32 *saddr, const __u32 *daddr, __u32 ports, __u32 proto)
{
	__u32 h = proto;

	h = xlvs_mix_word(h, saddr[0]);
	h = xlvs_mix_word(h, saddr[1]);
	h = xlvs_mix_word(h, saddr[2]);
	h = xlvs_mix_word(h, saddr[3]);
	h = xlvs_mix_word(h, daddr[0]);
	h = xlvs_mix_word(h, daddr[1]);
	h = xlvs_mix_word(h, daddr[2]);
	h = xlvs_mix_word(h, daddr[3]);
	h = xlvs_mix_word(h, ports);
	return xlvs_hash_final(h, 36);
}

/* An IPv6 address as one word, for the schedulers that hash one address (sh, dh, mh without port): the hash of its 16 bytes. */
static __always_inline __u32 xlvs_addr6_fold(const __u32 *a)
{
	__u32 h = 0;

	h = xlvs_mix_word(h, a[0]);
	h = xlvs_mix_word(h, a[1]);
	h = xlvs_mix_word(h, a[2]);
	h = xlvs_mix_word(h, a[3]);
	return xlvs_hash_final(h, 16);
}

#endif /* XLVS_HASH_H */
