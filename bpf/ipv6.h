/* SPDX-License-Identifier: GPL-2.0-only */
/* ipv6.h: the IPv6 datapath, included once by xlvs.bpf.c: the extension-header walk, ICMPv6 errors, the stateless and packet paths. */

#include <linux/icmpv6.h>

#define XLVS_NEXTHDR_HOP      0
#define XLVS_NEXTHDR_ROUTING  43
#define XLVS_NEXTHDR_FRAGMENT 44
#define XLVS_NEXTHDR_AH       51
#define XLVS_NEXTHDR_ICMPV6   58
#define XLVS_NEXTHDR_DEST     60

#define XLVS_ICMPV6_DEST_UNREACH 1
#define XLVS_ICMPV6_PKT_TOOBIG   2

/* Where the walk gives up: an L4 header further into the frame than this is left to the kernel (pass_ipv6_ext). */
#define XLVS_IPV6_L4_MAX_OFF 4096

/* ---- the IPv6 connection-table family ---- */

#include "conntable6.h"

/*
 * xlvs_scratch6's value: the flow's new connection, and what ipv6_parse() found that xlvs_ipv6() needs after it. Kept
 * here, not in xlvs_ipv6()'s registers: a value live across the call spills, and the chain's stack has no room on 6.1.
 */
struct scratch6 {
	struct new_conn6 nc;
	__u32 bytes; /* the datagram's length (payload length + 40) for the counters */
	__u32 pad;
};

_Static_assert(sizeof(struct scratch6) <= XLVS_NEW_CONN6_BYTES, "xlvs_scratch6 holds a struct scratch6");

#include "ipv6ext.h"

/* ---- the IPv6 packet path ---- */

/* Two IPv6 addresses in the frame (4-byte aligned after the Ethernet header's 14 bytes: word compares). */
static __always_inline int same_addr6(const struct in6_addr *a, const struct in6_addr *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/*
 * An ICMPv6 packet-too-big or destination-unreachable sent to a VIP quotes the start of a real's reply (VIP -> client):
 * the flow it belongs to, seen the other way round, goes to that real unchanged (IPVS's ip_vs_in_icmp_v6), so path
 * MTU discovery works through the director. Its entry is only read: an error is no sign of the flow's life.
 * off: the ICMPv6 header's offset in the frame; end: the datagram's end. A global function, off the flows' call chain;
 * it finds the IPv6 header behind the VLAN tags again rather than take a sixth argument (BPF functions take five).
 */
__noinline int icmp6_to_flow(struct xdp_md *ctx, struct xlvs_verdicts *vd, const struct xlvs_cfg *cfg, __u32 off, __u32 end)
{
	struct xlvs_conn6_key k __attribute__((aligned(8))) = {}, *key = &k;
	struct hdr_cursor nh;
	void *data, *data_end, *l3_end;
	struct xlvs_ct6_bucket *bucket;
	struct ipv6hdr *ip6, *q;
	struct ethhdr *eth;
	struct xlvs_ct6_entry *e;
	struct xlvs_real *real;
	__u32 ports, idx, real_id, svc_id;
	int way;

	/* verifier: a global function's pointer arguments may be NULL, and its offsets need bounds of their own */
	if (!ctx || !vd || !cfg || off > XLVS_IPV6_L4_MAX_OFF || end > 0xffff)
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	nh.pos = data;
	/* verifier: xlvs_xdp parsed these, but this function is verified without the caller's bounds */
	if (parse_vlans(&nh, data_end, parse_ethhdr(&nh, data_end, &eth)) != bpf_htons(ETH_P_IPV6))
		return XDP_ABORTED;
	ip6 = nh.pos;
	if ((void *)(ip6 + 1) > data_end)
		return XDP_ABORTED;
	/* verifier: clang compares a copy and drops the masks the verifier needs on these unless a barrier keeps them */
	barrier_var(off);
	off &= 0x1fff;
	barrier_var(end);
	end &= 0xffff;
	l3_end = data + end;
	q = data + off + 8;
	/* the quoted IPv6 header and the first 4 bytes (the ports) of what it carried */
	if ((void *)(q + 1) + 4 > data_end || (void *)(q + 1) + 4 > l3_end) {
		vd->pass_malformed++;
		return XDP_PASS;
	}
	if ((q->nexthdr != IPPROTO_TCP && q->nexthdr != IPPROTO_UDP) || !same_addr6(&q->saddr, &ip6->daddr)) {
		vd->pass_icmp6_no_flow++;
		return XDP_PASS;
	}
	ports = *(__u32 *)(q + 1);
	ports = (ports >> 16) | (ports << 16); /* the reply's ports, swapped: client port first, as the client's packets carry them */
	__builtin_memcpy(key->saddr, &q->daddr, 16);
	__builtin_memcpy(key->daddr, &q->saddr, 16);
	key->sport = (__be16)ports;
	key->dport = (__be16)(ports >> 16);
	key->proto = q->nexthdr;
	way = ct_locate6(cfg, key, ports, &idx, &bucket);
	if (way == -2 || !bucket) {
		vd->aborted++;
		return XDP_ABORTED;
	}
	if (way < 0) {
		vd->pass_icmp6_no_flow++;
		return XDP_PASS;
	}
	e = &bucket->e[way & (XLVS_CT6_WAYS - 1)];
	real_id = e->val.real_id;
	svc_id = e->val.svc_id;
	real = usable_real(&real_id, svc_id);
	if (!real) {
		vd->pass_icmp6_no_flow++;
		return XDP_PASS;
	}
	__builtin_memcpy(eth->h_dest, real->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->mac, ETH_ALEN);
	vd->tx_icmp6++;
	return XDP_TX;
}

/* ipv6_parse()'s answer when the frame is a TCP or UDP flow for the connection table (beyond every XDP action). */
#define P6_FLOW 16

/*
 * Parses an IPv6 frame into nc (key, ports, TCP flags), or settles it: returns P6_FLOW, or the frame's XDP action with
 * its verdict counted (malformed, a fragment, too many extension headers, no TCP/UDP, an ICMPv6 error). A global
 * function: its stack and states stay off the flow's call chain (new_connection6() and schedule() below xlvs_ipv6()).
 */
__noinline int ipv6_parse(struct xdp_md *ctx, struct xlvs_verdicts *vd, const struct xlvs_cfg *cfg, struct scratch6 *s6, __u32 l3off)
{
	struct new_conn6 *nc;
	struct ip6_walk w = {};
	struct hdr_cursor nh;
	struct ipv6hdr *ip6;
	void *data, *data_end;
	__u32 ports;
	__u8 flags = 0, *icmp;
	int proto;

	/* verifier: a global function's pointer arguments may be NULL, and its offsets need bounds of their own */
	if (!ctx || !vd || !cfg || !s6 || l3off > XLVS_L3_MAX_OFF)
		return XDP_ABORTED;
	nc = &s6->nc;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	/* verifier: the caller checked the Ethernet header and tags, but this function is verified without the caller's bounds */
	barrier_var(l3off);
	nh.pos = data + (l3off & 0x1f);
	if (nh.pos > data_end) {
		vd->pass_malformed++;
		return XDP_PASS;
	}
	proto = parse_ipv6hdr(&nh, data_end, &ip6);
	if (proto < 0) {
		vd->pass_malformed++;
		return XDP_PASS;
	}
	w.off = nh.pos - data;
	w.end = nh.l3_end - data;
	w.nexthdr = proto;
	/* Most frames carry no extension header: those skip the walk's call. */
	switch (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == XLVS_NEXTHDR_ICMPV6 ? W6_L4 : ipv6_walk(ctx, &w)) {
	case W6_L4:
		break;
	case W6_FRAGMENT:
		vd->pass_fragment6++;
		return XDP_PASS;
	case W6_EXT:
		vd->pass_ipv6_ext++;
		return XDP_PASS;
	default:
		vd->pass_malformed++;
		return XDP_PASS;
	}
	/* verifier: the walk's offset comes back through memory, unbounded until checked again */
	if (w.off > XLVS_IPV6_L4_MAX_OFF) {
		vd->pass_ipv6_ext++;
		return XDP_PASS;
	}
	/* verifier: with ALU32 the bound above is on the low 32 bits only; the mask (kept by the barrier) bounds all 64 */
	barrier_var(w.off);
	nh.pos = data + (w.off & 0x1fff);
	proto = w.nexthdr;
	switch (parse_ports(&nh, data_end, proto, &ports, &flags)) {
	case 1:
		break;
	case -1:
		vd->pass_malformed++;
		return XDP_PASS;
	default:
		if (proto != XLVS_NEXTHDR_ICMPV6) {
			vd->pass_no_service++;
			return XDP_PASS;
		}
		/* Neighbour discovery (133-137), echo and the rest are the director's kernel's to answer; errors may be a flow's. */
		icmp = nh.pos;
		if ((void *)(icmp + 8) > data_end || (void *)(icmp + 8) > nh.l3_end) {
			vd->pass_malformed++;
			return XDP_PASS;
		}
		if (icmp[0] == XLVS_ICMPV6_PKT_TOOBIG || icmp[0] == XLVS_ICMPV6_DEST_UNREACH)
			return icmp6_to_flow(ctx, vd, cfg, w.off, w.end);
		vd->pass_no_service++;
		return XDP_PASS;
	}
	/*
	 * A connection entry is free while its first 8 bytes are zero; the kernel drops sources that have them so
	 * (unspecified, loopback, IPv4-mapped), and so does the datapath, rather than track one.
	 */
	if (!*(__u64 *)&ip6->saddr) {
		vd->pass_malformed++;
		return XDP_PASS;
	}
	__builtin_memcpy(nc->key.saddr, &ip6->saddr, 16);
	__builtin_memcpy(nc->key.daddr, &ip6->daddr, 16);
#ifdef XLVS_BENCH_FRESH_FLOWS
	((__u32 *)nc->key.saddr)[3] ^= bench_flow();
#endif
	nc->key.sport = (__be16)ports;
	nc->key.dport = (__be16)(ports >> 16); /* the second half of the port pair as it lies in memory */
	nc->key.proto = proto;
	nc->ports = ports;
	nc->tcp_flags = flags;
	s6->bytes = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
	return P6_FLOW;
}

/*
 * An IPv6 flow's entry followed (ct_follow6()), its real and service left in nc's out fields. Not inlined: in
 * xlvs_ipv6() its spills sat in the frame that stays live under new_connection6() and schedule(), past 6.1's 512
 * bytes for the chain; here they are gone before either runs.
 */
static __noinline struct xlvs_real *follow6(struct xlvs_ct6_bucket *bucket, int way, struct new_conn6 *nc, const struct xlvs_cfg *cfg)
{
	return ct_follow6(bucket, way, nc, cfg, &nc->real_id, &nc->svc_id);
}

/*
 * hashed_hash() of an IPv6 flow, hashing only what the scheduler takes: the nine-word flow hash for mh-port, else one
 * folded address (addr_words6() folds both, and schedule() takes the flow hash whether it is used or not).
 */
static __noinline __u32 hashed_hash6(const struct xlvs_svc *svc, const struct xlvs_conn6_key *key, __u32 ports)
{
	__u32 port = svc->flags & XLVS_SVC_F_HASH_PORT ? ports & 0xffff : 0;

	switch (svc->sched) {
	case XLVS_SCHED_MH:
		return port ? flow_hash6(key, ports) : xlvs_flow_hash(xlvs_addr6_fold((const __u32 *)key->saddr), 0, 0, 0);
	case XLVS_SCHED_SH:
		return xlvs_flow_hash(xlvs_addr6_fold((const __u32 *)key->saddr), 0, port, 0);
	default: /* XLVS_SCHED_DH */
		return xlvs_flow_hash(0, xlvs_addr6_fold((const __u32 *)key->daddr), 0, 0);
	}
}

/*
 * stateless() for IPv6: an established TCP packet of an mh, sh or dh service without persistence goes to the owner of
 * its unmarked bucket without reading xlvs_conn6 (64 MiB of random accesses by default), setting its xlvs_seen6 bit;
 * a bare SYN past this CPU's budget goes by the hash unrecorded. Returns the owner (its id and the service's left in
 * nc), or NULL for the connection-table path. Not inlined: xlvs_ipv6()'s frame stays on the chain under
 * new_connection6(), and 6.1 allows 512 bytes for all of it; this one's frame is gone before that runs.
 */
static __noinline struct xlvs_real *stateless6(struct new_conn6 *nc, const struct xlvs_cfg *cfg)
{
	struct xlvs_ct_geo geo;
	struct xlvs_svc *svc;
	struct xlvs_real *real;
	__u32 i, h, b, w, *slot;
	__u64 *seen, bit;
	void *table;
	__u8 flags;

	flags = nc->tcp_flags;
	if (nc->key.proto != IPPROTO_TCP || (flags & (XLVS_TCP_FIN | XLVS_TCP_RST)) || (flags & (XLVS_TCP_SYN | XLVS_TCP_ACK)) == (XLVS_TCP_SYN | XLVS_TCP_ACK))
		return NULL;
	if ((flags & XLVS_TCP_SYN) && !cfg->nc_budget)
		return NULL;
	svc = service_cached6(&nc->key, cfg->svc_gen);
	if (!svc || svc->persist_timeout || !svc->tbl_size || !is_hashed(svc->sched))
		return NULL;
	nc->svc_id = svc->id;
	table = bpf_map_lookup_elem(&xlvs_tbl, &nc->svc_id);
	if (!table)
		return NULL;
	i = hashed_hash6(svc, &nc->key, nc->ports) % svc->tbl_size;
	slot = bpf_map_lookup_elem(table, &i);
	if (!slot)
		return NULL;
	/* One load: the owner and its marks together (XLVS_REAL_NONE reads as MOVED). */
	nc->real_id = *(volatile __u32 *)slot;
	if (nc->real_id & XLVS_TBL_MOVED)
		return NULL;
	nc->real_id &= XLVS_TBL_REAL_MASK;
	real = available_real(&nc->real_id, nc->svc_id);
	if (!real)
		return NULL;
	if (flags & XLVS_TCP_SYN)
		return over_budget(cfg->nc_budget, svc->sched, now_seconds(), 1) ? real : NULL;
	h = ct_hash6(cfg, &nc->key, nc->ports);
	geo = ct_geo6();
	b = geo.live ? h & (geo.live - 1) : ((__u64)h * cfg->ct6_buckets) >> 32;
	w = b / XLVS_SEEN_PER_WORD;
	seen = bpf_map_lookup_elem(&xlvs_seen6, &w);
	if (seen) {
		bit = 1ull << ((b % XLVS_SEEN_PER_WORD) * XLVS_SEEN_BITS + seen_bit(h, geo.live));
		if (!(*seen & bit))
			__sync_fetch_and_or(seen, bit);
	}
	return real;
}

/*
 * The IPv6 path, called by xlvs_xdp for IPv6 frames addressed to this director; l3off: the IPv6 header's offset (behind
 * the Ethernet header and any VLAN tags). A global function: verified once, on its own, so the IPv4 path's states are
 * not multiplied by these (and the reverse). Counts its own verdicts.
 */
__noinline int xlvs_ipv6(struct xdp_md *ctx, struct xlvs_verdicts *vd, const struct xlvs_cfg *cfg, __u32 l3off)
{
	struct scratch6 *s6;
	struct xlvs_ct6_bucket *bucket;
	struct xlvs_real *real = NULL;
	struct ethhdr *eth;
	void *data_end;
	__u32 zero = 0;
	int way, nc_result = -1;

	/* verifier: a global function's pointer arguments may be NULL (ipv6_parse() bounds l3off) */
	if (!ctx || !vd || !cfg)
		return XDP_ABORTED;
	s6 = bpf_map_lookup_elem(&xlvs_scratch6, &zero);
	if (!s6) {
		vd->aborted++;
		return XDP_ABORTED;
	}
	__builtin_memset(&s6->nc, 0, sizeof(s6->nc));
	s6->nc.way = -1;
	way = ipv6_parse(ctx, vd, cfg, s6, l3off);
	if (way != P6_FLOW)
		return way;
	eth = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	/* verifier: ipv6_parse() checked the headers; this function has its own view of the frame */
	if ((void *)(eth + 1) > data_end) {
		vd->aborted++;
		return XDP_ABORTED;
	}
	real = stateless6(&s6->nc, cfg);
	if (real) {
		nc_result = NC_STATELESS;
		if (s6->nc.tcp_flags & XLVS_TCP_SYN) {
			nc_result = NC_OVER_BUDGET;
			vd->tx_new6++;
		}
		return forward(eth, cfg, vd, real, s6->nc.svc_id, s6->nc.real_id, s6->bytes, nc_result);
	}
	/*
	 * As for IPv4: the flow's bucket first, the service only for flows without a usable entry. The real and service
	 * go to the scratch (the out fields new_connection6() fills too), not the stack: 6.1's 512 bytes are all taken.
	 */
	way = ct_locate6(cfg, &s6->nc.key, s6->nc.ports, &s6->nc.bucket, &bucket);
	if (way == -2 || !bucket) {
		vd->aborted++;
		return XDP_ABORTED;
	}
	if (way >= 0)
		real = follow6(bucket, way, &s6->nc, cfg);
	if (!real) {
		nc_result = new_connection6(&s6->nc);
		if (nc_result == NC_TX) {
			vd->tx_new6++;
			vd->ct_evicted += s6->nc.evicted;
			vd->ct_untracked += s6->nc.untracked;
			if (s6->nc.sync & NC_SYNC_CONN)
				sync_emit6(&s6->nc.key, s6->nc.real_id, s6->nc.svc_id,
				           s6->nc.key.proto == IPPROTO_TCP ? tcp_first_state(s6->nc.tcp_flags) : XLVS_CS_UDP);
			if (s6->nc.sync & NC_SYNC_TEMPLATE)
				sync_template6(&s6->nc.key, s6->nc.real_id, s6->nc.svc_id);
		}
	}
	return forward(eth, cfg, vd, real, s6->nc.svc_id, s6->nc.real_id, s6->bytes, nc_result);
}
