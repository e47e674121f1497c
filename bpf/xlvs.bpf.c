/* SPDX-License-Identifier: GPL-2.0-only */
/* xlvs.bpf.c: the LVS-DR datapath: match VIP:port, keep each connection on its real, rewrite only the Ethernet header, XDP_TX. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xlvs_abi.h"
#include "xlvs_hash.h"
#include "parsing.h"

/*
 * The verifier's budget: each program must verify within 250,000 processed instructions (a
 * quarter of the kernel's limit; test/bpf/verifier.test.ts checks it here and on 6.1), because
 * the verifier's work differs between kernels and even patch releases. The shapes that keep it so:
 *  - The new-connection path (new_connection) and the schedulers (schedule) are global functions:
 *    the verifier checks each once against its prototype, instead of once per state the caller
 *    reaches it in (their product was most of 450,000 instructions).
 *  - Every loop with a variable trip count is a bpf_loop callback (walk_member, scan_member,
 *    sweep_way): a callback is verified as one loop body whatever the count, and clang cannot
 *    rotate it into a loop entered midway and closed by a fall-through, which 6.1 rejects
 *    ("back-edge from insn N to N+1").
 *  - Callbacks are small and do one thing (one way of one bucket, one table position): since 6.8
 *    the verifier walks a callback until its states converge, and a loop inside one multiplies.
 *  - Loops with a fixed count (the 8 ways of a bucket, a claim's two tries) are unrolled.
 */

/* verifier: a way index is masked into range with & (XLVS_CT_WAYS - 1) */
_Static_assert((XLVS_CT_WAYS & (XLVS_CT_WAYS - 1)) == 0, "XLVS_CT_WAYS must be a power of two");

#include "maps.h"

#ifdef XLVS_BENCH_FRESH_FLOWS
#include "bench_flow.h"
#endif

#include "conn.h"

#include "syncout.h"

#include "sched.h"

#include "conntable4.h"

/* ---- the forwarding step both families share ---- */

/*
 * After the connection-table lookup: a flow without a usable entry is scheduled (new_connection()), and the frame
 * goes to its real with only the MACs rewritten. nc_result: new_connection()'s verdict, or -1 for a known flow.
 * bytes: the IP datagram's length for the counters.
 */
static __always_inline int forward(struct ethhdr *eth, const struct xlvs_cfg *cfg, struct xlvs_verdicts *vd, struct xlvs_real *real, __u32 svc_id,
                                   __u32 real_id, __u32 bytes, int nc_result)
{
	int new_conn = nc_result >= 0 || nc_result == NC_OVER_BUDGET;

	switch (nc_result) {
	case -1:
	case NC_STATELESS:
	case NC_OVER_BUDGET:
		break;
	case NC_PASS:
		vd->pass_no_service++;
		return XDP_PASS;
	case NC_DROP:
		vd->drop_no_real++;
		return XDP_DROP;
	case NC_TX:
		real = bpf_map_lookup_elem(&xlvs_reals, &real_id);
		break;
	default:
		real = NULL;
		break;
	}
	if (!real) {
		vd->aborted++;
		return XDP_ABORTED;
	}
	__builtin_memcpy(eth->h_dest, real->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->mac, ETH_ALEN);
	count(&svc_id, &xlvs_st_svc, bytes, new_conn);
	count(&real_id, &xlvs_st_real, bytes, new_conn);
	if (new_conn)
		vd->tx_new++;
	else if (nc_result == NC_STATELESS)
		vd->tx_stateless++;
	else
		vd->tx_existing++;
	return XDP_TX;
}

#include "icmp.h"

#include "ipv6.h"

/*
 * The stateless path: an established TCP packet (no SYN, FIN or RST) of an mh, sh or dh service without persistence
 * goes to its bucket's owner when the bucket is not marked MOVED: every live connection in an unmarked bucket is the
 * owner's (the control plane, new_connection(), the sync backup and the sweeper mark any other), so the connection
 * table, 128 MiB of random accesses, is not read. The flow's xlvs_seen bit (set only if clear: no cache line ping-pong
 * between CPUs) tells the sweeper its entry is live. Returns the owner, or NULL for the connection-table path.
 *
 * A bare SYN takes it too once this CPU's new-connection budget is spent for the second: such a flow would be
 * scheduled by the same hash and not recorded, so reading its bucket (a memory miss, most of a new flow's cost) buys
 * nothing, and a SYN flood costs what established packets cost. It sets no xlvs_seen bit: a retransmitted SYN of a
 * flow recorded earlier must not read as the traffic that keeps an entry alive (or establishes it).
 */
static __always_inline struct xlvs_real *stateless(const struct xlvs_conn_key *key, __u32 ports, const struct xlvs_cfg *cfg, __u32 *real_id, __u32 *svc_id,
                                                   const __u8 *tcp_flags)
{
	/* verifier: read from memory at each use: kept in a register across the lookups, the bit spilled to a slot of its own, which took the chain past 6.1's 512 bytes */
#define SYN (*(volatile const __u8 *)tcp_flags & XLVS_TCP_SYN)
	struct xlvs_svc *svc;
	struct xlvs_ct_geo geo;
	struct xlvs_real *real;
	__u32 i, h, b, w, *slot;
	__u64 *seen, bit;
	void *table;

	if (SYN && !cfg->nc_budget)
		return NULL;
	svc = service_cached(key, cfg->svc_gen);
	if (!svc || svc->persist_timeout || !svc->tbl_size || !is_hashed(svc->sched))
		return NULL;
	*svc_id = svc->id;
	table = bpf_map_lookup_elem(&xlvs_tbl, svc_id);
	if (!table)
		return NULL;
	i = hashed_hash(svc, key->saddr, key->daddr, ports, flow_hash(key, ports)) % svc->tbl_size;
	slot = bpf_map_lookup_elem(table, &i);
	if (!slot)
		return NULL;
	/* One load: the owner and its marks together (XLVS_REAL_NONE reads as MOVED). */
	*real_id = *(volatile __u32 *)slot;
	if (*real_id & XLVS_TBL_MOVED)
		return NULL;
	*real_id &= XLVS_TBL_REAL_MASK;
	/*
	 * Only an owner that may take new connections: a packet without an entry would be scheduled to it (as IPVS picks
	 * up a flow it has no entry for), and a drained or overloaded owner's own flows go by their entries.
	 */
	real = available_real(real_id, *svc_id);
	if (!real)
		return NULL;
	/*
	 * Counted over budget only if the second's budget is spent; else the SYN takes the connection-table path, to be
	 * counted and recorded there. verifier: asking first, before the lookups above (a SYN under budget would skip
	 * them), grew xlvs_xdp's frame past 6.1's 512 bytes for the whole call chain, inlined or not.
	 */
	if (SYN)
		return over_budget(cfg->nc_budget, svc->sched, now_seconds(), 1) ? real : NULL;
	h = ct_hash(cfg, key, ports);
	geo = ct_geo();
	b = geo.live ? h & (geo.live - 1) : ((__u64)h * cfg->ct_buckets) >> 32;
	w = b / XLVS_SEEN_PER_WORD;
	seen = bpf_map_lookup_elem(&xlvs_seen, &w);
	if (seen) {
		bit = 1ull << ((b % XLVS_SEEN_PER_WORD) * XLVS_SEEN_BITS + seen_bit(h, geo.live));
		if (!(*seen & bit))
			__sync_fetch_and_or(seen, bit);
	}
	return real;
#undef SYN
}

/*
 * The IPv4 path of xlvs_xdp, for IPv4 frames addressed to this director; counts its own verdicts. Inlined: as a global
 * function (as xlvs_ipv6() is) the call alone cost an established IPv4 flow 7 ns of its 48.
 */
static __always_inline int xlvs_ipv4(void *l3, void *data_end, struct ethhdr *eth, struct xlvs_verdicts *vd, const struct xlvs_cfg *cfg)
{
	struct new_conn nc __attribute__((aligned(8))) = {.way = -1};
	struct xlvs_conn_key *key = &nc.key;
	struct hdr_cursor nh = {.pos = l3};
	struct xlvs_ct_bucket *bucket;
	struct xlvs_real *real = NULL;
	struct iphdr *iph;
	__u32 real_id = 0, svc_id = 0, ports;
	int proto, way, nc_result = -1;
	__u8 flags = 0;

	proto = parse_iphdr(&nh, data_end, &iph);
	if (proto < 0) {
		vd->pass_malformed++;
		return XDP_PASS;
	}
	if (iph->frag_off & bpf_htons(XLVS_IP_MF | XLVS_IP_OFFSET)) {
		vd->pass_fragment++;
		return XDP_PASS;
	}
	switch (parse_ports(&nh, data_end, proto, &ports, &flags)) {
	case 1:
		break;
	case 0:
		if (proto == IPPROTO_ICMP)
			return icmp_error(&nh, data_end, eth, cfg, vd, key, bpf_ntohs(iph->tot_len));
		vd->pass_no_service++;
		return XDP_PASS;
	default:
		vd->pass_malformed++;
		return XDP_PASS;
	}

	key->saddr = iph->saddr;
#ifdef XLVS_BENCH_FRESH_FLOWS
	key->saddr ^= bench_flow();
#endif
	key->daddr = iph->daddr;
	key->sport = (__be16)ports;
	key->dport = (__be16)(ports >> 16); /* the second half of the port pair as it lies in memory */
	key->proto = proto;
	nc.ports = ports;
	nc.tcp_flags = flags;

	/* Established packets, and bare SYNs (new flows) for the budget's sake (see stateless()). */
	if (proto == IPPROTO_TCP && !(flags & (XLVS_TCP_FIN | XLVS_TCP_RST)) && (flags & (XLVS_TCP_SYN | XLVS_TCP_ACK)) != (XLVS_TCP_SYN | XLVS_TCP_ACK)) {
		real = stateless(key, ports, cfg, &real_id, &svc_id, &nc.tcp_flags);
		if (real) /* verifier: the SYN bit from memory again, as in stateless() */
			return forward(eth, cfg, vd, real, svc_id, real_id, bpf_ntohs(iph->tot_len),
			               *(volatile __u8 *)&nc.tcp_flags & XLVS_TCP_SYN ? NC_OVER_BUDGET : NC_STATELESS);
	}

	/*
	 * Established flows first: one bucket of the connection table, then the service
	 * lookup only for flows without an entry. An entry is trusted only while its real
	 * still has a MAC and still belongs to the entry's service: the control plane clears
	 * the reals of a removed service, so that service's flows fall through to the service
	 * lookup and are passed.
	 */
	way = ct_locate(cfg, key, ports, &nc.bucket, &bucket);
	if (way == -2 || !bucket) {
		vd->aborted++;
		return XDP_ABORTED;
	}
	if (way >= 0)
		real = ct_follow(bucket, way, &nc, cfg, &real_id, &svc_id);
	if (!real) {
		nc_result = new_connection(&nc);
		if (nc_result == NC_TX) {
			vd->ct_evicted += nc.evicted;
			vd->ct_untracked += nc.untracked;
			svc_id = nc.svc_id;
			real_id = nc.real_id;
			if (nc.sync) {
				if (nc.sync & NC_SYNC_CONN)
					sync_emit(key, real_id, svc_id, proto == IPPROTO_TCP ? tcp_first_state(flags) : XLVS_CS_UDP);
				if (nc.sync & NC_SYNC_TEMPLATE)
					sync_template(key, real_id, svc_id);
			}
		}
	}
	return forward(eth, cfg, vd, real, svc_id, real_id, bpf_ntohs(iph->tot_len), nc_result);
}

/* ---- programs ---- */

SEC("xdp")
int xlvs_xdp(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct hdr_cursor nh = {.pos = (void *)(long)ctx->data};
	struct xlvs_verdicts *vd;
	struct xlvs_cfg *cfg;
	struct ethhdr *eth;
	__u32 zero = 0;
	int proto;

	vd = bpf_map_lookup_elem(&xlvs_verdicts, &zero);
	/* verifier: the single-entry per-CPU array always exists, but the lookup may return NULL */
	if (!vd)
		return XDP_ABORTED;

	cfg = bpf_map_lookup_elem(&xlvs_cfg, &zero);
	if (!cfg) {
		vd->aborted++;
		return XDP_ABORTED;
	}
	proto = parse_ethhdr(&nh, data_end, &eth);
	/* VLAN tags stay in place: a trunk's frame is forwarded on the VLAN it came in on, where its service's reals are. */
	if (proto >= 0)
		proto = parse_vlans(&nh, data_end, proto);
	if (proto < 0) {
		vd->pass_malformed++;
		return XDP_PASS;
	}
	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6)) {
		vd->pass_not_ipv4++;
		return XDP_PASS;
	}
	/*
	 * Only frames addressed to this director are forwarded: a second director (a VRRP backup) on the same segment
	 * otherwise forwards the first one's output, addressed to a real, again and again. IPv4 is tested first: the
	 * established IPv4 flow is the path to keep short.
	 */
	if (!for_director(eth->h_dest, cfg)) {
		vd->pass_not_for_us++;
		return XDP_PASS;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return xlvs_ipv4(nh.pos, data_end, eth, vd, cfg);
	return xlvs_ipv6(ctx, vd, cfg, nh.pos - (void *)eth);
}

#include "sweep.h"

#include "syncin.h"

#include "tblmark.h"

#include "ctmove.h"
