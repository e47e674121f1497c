/* SPDX-License-Identifier: GPL-2.0-only */
/* ipv6ext.h: the IPv6 extension-header walk (ipv6_walk), included once by ipv6.h: where the upper-layer header starts, or why not. */

/* What ipv6_walk() found. */
#define W6_L4        0 /* w->nexthdr is the upper-layer protocol, at w->off */
#define W6_FRAGMENT  1 /* a fragment header of a real fragment (first or later) */
#define W6_EXT       2 /* more than XLVS_IPV6_EXT_MAX extension headers, or the chain runs past XLVS_IPV6_L4_MAX_OFF */
#define W6_MALFORMED 3 /* an extension header beyond the datagram, or hop-by-hop options not first */

struct ip6_walk {
	__u32 off;    /* in: offset of the header after the IPv6 header; out: offset of the upper-layer header */
	__u32 end;    /* in: offset of the datagram's end (the payload length's) */
	__u8 nexthdr; /* in: the IPv6 header's next header; out: the upper-layer protocol */
	__u8 pad[3];
};

/*
 * Steps over at most XLVS_IPV6_EXT_MAX extension headers, as the kernel's ipv6_skip_exthdr() does: hop-by-hop (only
 * first), routing and destination options ((len + 1) x 8 bytes), AH ((len + 2) x 4 bytes), and a fragment header,
 * which ends the walk unless it is an atomic fragment (offset 0, no more fragments: RFC 6946, a whole datagram).
 * A global function: its unrolled steps are verified once, and the caller gets one offset, not a state per step.
 */
__noinline int ipv6_walk(struct xdp_md *ctx, struct ip6_walk *w)
{
	void *data, *data_end;
	__u32 off, len;
	__u8 *p, nexthdr;
	int i;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!ctx || !w)
		return W6_MALFORMED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	off = w->off;
	nexthdr = w->nexthdr;
#pragma unroll
	for (i = 0; i < XLVS_IPV6_EXT_MAX; i++) {
		if (nexthdr != XLVS_NEXTHDR_HOP && nexthdr != XLVS_NEXTHDR_ROUTING && nexthdr != XLVS_NEXTHDR_DEST && nexthdr != XLVS_NEXTHDR_AH &&
		    nexthdr != XLVS_NEXTHDR_FRAGMENT) {
			w->off = off;
			w->nexthdr = nexthdr;
			return W6_L4;
		}
		if (nexthdr == XLVS_NEXTHDR_HOP && i)
			return W6_MALFORMED;
		if (off > XLVS_IPV6_L4_MAX_OFF)
			return W6_EXT;
		p = data + off;
		/* verifier: every extension header is at least 8 bytes, so one bound covers the fields read below */
		if ((void *)(p + 8) > data_end || off + 8 > w->end)
			return W6_MALFORMED;
		if (nexthdr == XLVS_NEXTHDR_FRAGMENT) {
			/* offset (13 bits) and M: anything but zero is a real fragment */
			if (*(__be16 *)(p + 2) & bpf_htons(0xfff9))
				return W6_FRAGMENT;
			len = 8;
		} else if (nexthdr == XLVS_NEXTHDR_AH) {
			len = ((__u32)p[1] + 2) * 4;
		} else {
			len = ((__u32)p[1] + 1) * 8;
		}
		if (off + len > w->end)
			return W6_MALFORMED;
		nexthdr = p[0];
		off += len;
	}
	if (nexthdr == XLVS_NEXTHDR_HOP || nexthdr == XLVS_NEXTHDR_ROUTING || nexthdr == XLVS_NEXTHDR_DEST || nexthdr == XLVS_NEXTHDR_AH ||
	    nexthdr == XLVS_NEXTHDR_FRAGMENT)
		return W6_EXT;
	if (off > XLVS_IPV6_L4_MAX_OFF)
		return W6_EXT;
	w->off = off;
	w->nexthdr = nexthdr;
	return W6_L4;
}
