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

/* ---- maps (sizes are defaults: the loader may resize before load) ---- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLVS_MAX_SERVICES);
	__type(key, struct xlvs_svc_key);
	__type(value, struct xlvs_svc);
} xlvs_svc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_CONN_DEFAULT_MAX / XLVS_CT_WAYS);
	/* MMAPABLE: the values start page-aligned, so every 256-byte bucket is exactly four cache lines */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xlvs_ct_bucket);
} xlvs_conn SEC(".maps");

/* IPv6 services and connections: maps of their own beside the IPv4 ones, so IPv4 entries keep their size and cost. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLVS_MAX_SERVICES);
	__type(key, struct xlvs_svc6_key);
	__type(value, struct xlvs_svc);
} xlvs_svc6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_CONN6_DEFAULT_MAX / XLVS_CT6_WAYS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xlvs_ct6_bucket);
} xlvs_conn6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xlvs_real);
} xlvs_reals SEC(".maps");

/* The IPv6 reals' addresses: read only for sync records (xlvs_sync_rec6.raddr); pinned with the rest so a restart reads them back. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xlvs_real6);
} xlvs_raddr6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xlvs_real_conns);
} xlvs_rconn SEC(".maps");

/*
 * One schedule table per service, swapped in whole by a single outer-map update, or at an unchanged
 * size rewritten in place entry by entry (so a reader takes each entry once). What it holds
 * depends on the scheduler: a Maglev table (mh, sh, dh: bucket -> real id), the cycle of a
 * sequence scheduler (rr, wrr: position -> real id), or the member list the connection-count
 * schedulers scan (lc, wlc, sed, nq, fo, ovf).
 */
struct xlvs_tbl_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MH_DEFAULT_SIZE);
	/* INNER_MAP: tables of other sizes are accepted too; MMAPABLE: the control plane fills a table with one memcpy */
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XLVS_MAX_SERVICES);
	__type(key, __u32);
	__array(values, struct xlvs_tbl_inner);
} xlvs_tbl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct xlvs_seq_pos);
} xlvs_pos SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLVS_CONN_DEFAULT_MAX / XLVS_PERSIST_RATIO); /* resized with the table: persistTableSize() in src/core/abi.ts */
	__type(key, struct xlvs_persist_key);
	__type(value, struct xlvs_persist);
} xlvs_persist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLVS_CONN6_DEFAULT_MAX / XLVS_PERSIST_RATIO); /* resized with the IPv6 table: persistTableSize() in src/core/abi.ts */
	__type(key, struct xlvs_persist6_key);
	__type(value, struct xlvs_persist);
} xlvs_persist6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlvs_cfg);
} xlvs_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLVS_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct xlvs_counters);
} xlvs_st_svc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xlvs_counters);
} xlvs_st_real SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlvs_verdicts);
} xlvs_verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlvs_sweep_stats);
} xlvs_sweepst SEC(".maps");

/*
 * Where xlvs_conn's entries lie (struct xlvs_ct_geo): the live size of a growable table, and the size before while
 * xlvs_ctmove moves entries to a new one. Only xlvs_ctmove writes it; pinned, since entries lie where it says. A pin
 * directory of an older build lacks it, and the zero a load makes keeps that build's fixed placement.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlvs_ct_geo);
} xlvs_ctgeo SEC(".maps");

/* xlvs_ctgeo for xlvs_conn6 (the IPv6 table grows by its own occupancy); pinned, zero (fixed placement) for older pins. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlvs_ct_geo);
} xlvs_ctgeo6 SEC(".maps");

/* The new-connection budget's count per CPU (struct xlvs_nc_budget); never pinned (UNPINNED_MAPS): a restart starts a fresh second. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlvs_nc_budget);
} xlvs_ncb SEC(".maps");

/* The service cache per CPU (struct xlvs_svc_cache); never pinned (UNPINNED_MAPS): a load starts it empty. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLVS_SVCC_SLOTS);
	__type(key, __u32);
	__type(value, struct xlvs_svc_cache);
} xlvs_svcc SEC(".maps");

/* The IPv6 service cache per CPU (struct xlvs_svc6_cache); never pinned (UNPINNED_MAPS). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLVS_SVCC_SLOTS);
	__type(key, __u32);
	__type(value, struct xlvs_svc6_cache);
} xlvs_svcc6 SEC(".maps");

/*
 * Scratch space for the IPv6 path's new connection (struct new_conn6 in bpf/conntable.h, bpf/ipv6.h): on xlvs_ipv6()'s
 * stack it pushed the chain xlvs_xdp -> xlvs_ipv6 -> new_connection6 -> schedule past 6.1's 512 bytes. Per CPU, as an
 * XDP program runs on one CPU at a time; never pinned (UNPINNED_MAPS): it holds nothing between packets.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[XLVS_NEW_CONN6_BYTES]);
} xlvs_scratch6 SEC(".maps");

/*
 * Activity of established flows the datapath forwards without touching their entry (the stateless path):
 * XLVS_SEEN_BITS bits per bucket of one slice of xlvs_conn, XLVS_SEEN_PER_WORD buckets a value, a flow's bit chosen by
 * the low bits of its bucket hash. The sweeper reads a set bit as a packet of every held entry with that bit, then
 * clears the bucket's bits. Resized with the table; never pinned (UNPINNED_MAPS): a restart only loses one pass of bits.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_CONN_DEFAULT_MAX / XLVS_CT_WAYS / XLVS_SEEN_PER_WORD);
	__type(key, __u32);
	__type(value, __u64);
} xlvs_seen SEC(".maps");

/* xlvs_seen for xlvs_conn6 (IPv6 established flows), sized by its buckets; never pinned (UNPINNED_MAPS). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_CONN6_DEFAULT_MAX / XLVS_CT6_WAYS / XLVS_SEEN_PER_WORD);
	__type(key, __u32);
	__type(value, __u64);
} xlvs_seen6 SEC(".maps");

/* Services whose hash table may hold XLVS_TBL_MOVED or XLVS_TBL_HELD marks: the ones xlvs_tblmark settles after a pass. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u32);
} xlvs_tblmarked SEC(".maps");

/* Connection sync: what the datapath records while xlvs_cfg.sync_emit is on (struct xlvs_sync_rec), for user space to send to peers. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XLVS_SYNCQ_BYTES);
} xlvs_syncq SEC(".maps");

#ifdef XLVS_BENCH_FRESH_FLOWS
#include "bench_flow.h"
#endif

/* ---- helpers ---- */

#define XLVS_TCP_FIN 0x01
#define XLVS_TCP_SYN 0x02
#define XLVS_TCP_RST 0x04
#define XLVS_TCP_ACK 0x10

/*
 * Seconds of CLOCK_MONOTONIC without a division: BPF has no multiply-high, so "/ 1e9" is a
 * 64-bit divide on every packet. (ns >> 20) * 2^32 * 2^20 / 1e9, rounded, then >> 32: off by
 * 8e-8 (under a second per 150 days of uptime); src/core/abi.ts monoSeconds() is the same formula.
 */
static __always_inline __u32 now_seconds(void)
{
	return ((bpf_ktime_get_coarse_ns() >> 20) * 4503600ull) >> 32;
}

/*
 * Seconds since last_seen, signed: a packet may stamp an entry after the sweeper read its clock, in the next
 * second, leaving last_seen = now + 1. Unsigned, that reads as 2^32 - 1 seconds idle and expires a live flow.
 */
static __always_inline __s32 idle_for(__u32 now, __u32 last_seen)
{
	return (__s32)(now - last_seen);
}

static __always_inline void count(__u32 *id, void *map, __u32 bytes, int new_conn)
{
	struct xlvs_counters *c = bpf_map_lookup_elem(map, id);

	/* verifier: per-CPU array lookups can return NULL even for in-range ids */
	if (!c)
		return;
	c->packets++;
	c->bytes += bytes;
	c->conns += new_conn;
}

/*
 * A frame for this director: addressed to its NIC's MAC or one it answers for (keepalived use_vmac), not one it sees
 * because a switch floods or the NIC is promiscuous.
 */
static __always_inline int for_director(const __u8 *dst, const struct xlvs_cfg *cfg)
{
	const __u16 *d = (const __u16 *)dst;
	int i;

	if (d[0] == *(const __u16 *)&cfg->mac[0] && d[1] == *(const __u16 *)&cfg->mac[2] && d[2] == *(const __u16 *)&cfg->mac[4])
		return 1;
#pragma unroll
	for (i = 0; i < XLVS_ACCEPT_MACS; i++) {
		const __u16 *a = (const __u16 *)cfg->accept_mac[i];

		if (d[0] == a[0] && d[1] == a[1] && d[2] == a[2])
			return 1;
	}
	return 0;
}
/* The flow's real, if it is still a member of the flow's service with a MAC to send to. */
static __always_inline struct xlvs_real *usable_real(__u32 *real_id, __u32 svc_id)
{
	struct xlvs_real *real = bpf_map_lookup_elem(&xlvs_reals, real_id);

	if (real && (!(real->flags & XLVS_REAL_F_MAC) || real->svc_id != svc_id))
		return NULL;
	return real;
}

/* May take a new connection: a schedulable member of the service, under its upper threshold. */
static __always_inline struct xlvs_real *available_real(__u32 *real_id, __u32 svc_id)
{
	struct xlvs_real *real = bpf_map_lookup_elem(&xlvs_reals, real_id);
	struct xlvs_real_conns *rc;

	if (!real || !(real->flags & XLVS_REAL_F_SCHED) || real->svc_id != svc_id || !real->weight)
		return NULL;
	if (real->u_threshold) {
		rc = bpf_map_lookup_elem(&xlvs_rconn, real_id);
		/* Overloaded at a threshold the current one does not exceed: raising -x lifts it at once, as an IPVS edit does. */
		if (!rc || (rc->overloaded && real->u_threshold <= rc->overloaded))
			return NULL;
	}
	return real;
}

static __always_inline int is_active(__u8 state)
{
	return state == XLVS_CS_ESTABLISHED;
}

/* A connection entry now names this real: count it, and mark the real overloaded at its upper threshold (IPVS ip_vs_bind_dest). */
static __always_inline void bind_conn(__u32 real_id, __u8 state, __u32 u_threshold)
{
	struct xlvs_real_conns *rc = bpf_map_lookup_elem(&xlvs_rconn, &real_id);

	if (!rc)
		return;
	if (is_active(state))
		__sync_fetch_and_add(&rc->active, 1);
	else
		__sync_fetch_and_add(&rc->inactive, 1);
	if (u_threshold && rc->active + rc->inactive >= u_threshold)
		rc->overloaded = u_threshold;
}

/* The entry is gone or replaced: uncount it, and lift overload per IPVS ip_vs_unbind_dest's hysteresis. */
static __always_inline void unbind_conn(__u32 real_id, __u8 state)
{
	struct xlvs_real_conns *rc = bpf_map_lookup_elem(&xlvs_rconn, &real_id);
	struct xlvs_real *real;
	__s64 total;

	if (!rc)
		return;
	if (is_active(state))
		__sync_fetch_and_add(&rc->active, -1);
	else
		__sync_fetch_and_add(&rc->inactive, -1);
	if (!rc->overloaded)
		return;
	real = bpf_map_lookup_elem(&xlvs_reals, &real_id);
	total = rc->active + rc->inactive;
	if (!real || (real->l_threshold ? total < real->l_threshold : !real->u_threshold || total * 4 < (__s64)real->u_threshold * 3))
		rc->overloaded = 0;
}

/* A state change moves the entry between the active and inactive counts. */
static __always_inline void restate_conn(__u32 real_id, __u8 from, __u8 to)
{
	struct xlvs_real_conns *rc;

	if (is_active(from) == is_active(to))
		return;
	rc = bpf_map_lookup_elem(&xlvs_rconn, &real_id);
	if (!rc)
		return;
	__sync_fetch_and_add(&rc->active, is_active(to) ? 1 : -1);
	__sync_fetch_and_add(&rc->inactive, is_active(to) ? -1 : 1);
}

/* The input-only TCP state machine (README "Connection states"). */
static __always_inline __u8 tcp_next_state(__u8 state, __u8 flags)
{
	if (flags & XLVS_TCP_RST)
		return XLVS_CS_CLOSE;
	if (flags & XLVS_TCP_FIN)
		return state == XLVS_CS_CLOSE ? XLVS_CS_CLOSE : XLVS_CS_FIN_WAIT;
	if ((flags & XLVS_TCP_ACK) && state == XLVS_CS_SYN_RECV)
		return XLVS_CS_ESTABLISHED;
	return state;
}

/* The state of a connection first seen with these flags (a mid-stream pickup counts as established). */
static __always_inline __u8 tcp_first_state(__u8 flags)
{
	if (flags & XLVS_TCP_RST)
		return XLVS_CS_CLOSE;
	if (flags & XLVS_TCP_FIN)
		return XLVS_CS_FIN_WAIT;
	if ((flags & (XLVS_TCP_SYN | XLVS_TCP_ACK)) == XLVS_TCP_SYN)
		return XLVS_CS_SYN_RECV;
	return XLVS_CS_ESTABLISHED;
}

/* What new_connection() wrote that sync records (new_conn.sync): the caller emits, so no record sits on this path's stack. */
#define NC_SYNC_CONN     1 /* a connection entry */
#define NC_SYNC_TEMPLATE 2 /* a persistence template (scheduled afresh or re-pointed) */
_Static_assert(NC_SYNC_TEMPLATE == NC_SYNC_CONN << 1, "new_connection() derives NC_SYNC_TEMPLATE from NC_SYNC_CONN by a shift");

/* What new_connection() decided. */
#define NC_PASS        0 /* no service for the flow */
#define NC_DROP        1 /* no real can take it */
#define NC_TX          2 /* forward to nc->real_id */
#define NC_ABORT       3 /* a map that must exist was missing */
/* forward()'s nc_result for a packet the stateless path sent to its bucket's owner (-1: a connection-table entry's real). */
#define NC_STATELESS   -2
/* forward()'s nc_result for a new flow the stateless path sent to its bucket's owner past the budget: a new connection. */
#define NC_OVER_BUDGET -3

/* ---- connection sync: records out (xlvs_syncq) ---- */

/* Fills a reserved record. Not inlined: its prototype is what puts struct xlvs_sync_rec in the object's BTF (abi.test.ts). */
static __noinline void sync_fill(struct xlvs_sync_rec *r, const struct xlvs_conn_key *key, __u32 real_id, __u32 svc_id, __u32 state_flags)
{
	struct xlvs_real *real;
	__u32 id = real_id;

	__builtin_memcpy(&r->key, key, sizeof(r->key));
	real = bpf_map_lookup_elem(&xlvs_reals, &id);
	r->stamp = bpf_ktime_get_ns();
	r->real_id = real_id;
	r->raddr = real ? real->addr : 0;
	r->svc_id = svc_id;
	r->state = state_flags;
	r->flags = state_flags >> 8;
	r->pad[0] = 0;
	r->pad[1] = 0;
}

/*
 * Records one connection (its state) or template (state_flags XLVS_SYNC_F_TEMPLATE << 8) for the sync master's
 * reader. A global function: the packet path pays one predictable branch on cfg->sync_emit while sync is off, and
 * the record is written straight into the ring, never built on the packet path's stack (512 bytes for all frames).
 * A full queue never blocks forwarding: the record is dropped and counted (xlvs_verdicts.sync_lost).
 */
__noinline int sync_emit(const struct xlvs_conn_key *key, __u32 real_id, __u32 svc_id, __u32 state_flags)
{
	struct xlvs_sync_rec *r;
	struct xlvs_verdicts *vd;
	__u32 zero = 0;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!key)
		return 0;
	r = bpf_ringbuf_reserve(&xlvs_syncq, sizeof(*r), 0);
	if (!r) {
		vd = bpf_map_lookup_elem(&xlvs_verdicts, &zero);
		if (vd)
			vd->sync_lost++;
		return 0;
	}
	sync_fill(r, key, real_id, svc_id, state_flags);
	/* Flags 0: the kernel wakes the reader only when it had caught up, so a busy queue costs no wakeup per record. */
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/*
 * Records the template a new connection of this flow wrote, keyed as IPVS keys one: the client address masked by the
 * service's persist mask, client port 0, the service's port (0 for a port-0 service). A global function.
 */
__noinline int sync_template(const struct xlvs_conn_key *key, __u32 real_id, __u32 svc_id)
{
	struct xlvs_conn_key tk __attribute__((aligned(8))) = {};
	struct xlvs_svc_key skey = {};
	struct xlvs_svc *svc;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!key)
		return 0;
	skey.vip = key->daddr;
	skey.port = key->dport;
	skey.proto = key->proto;
	svc = bpf_map_lookup_elem(&xlvs_svc, &skey);
	if (!svc || svc->id != svc_id) {
		skey.port = 0; /* the port-0 service service_for() fell back to */
		svc = bpf_map_lookup_elem(&xlvs_svc, &skey);
		if (!svc || svc->id != svc_id)
			return 0;
	}
	tk.saddr = key->saddr & svc->persist_mask;
	tk.daddr = key->daddr;
	tk.dport = skey.port;
	tk.proto = key->proto;
	return sync_emit(&tk, real_id, svc_id, XLVS_CS_NONE | XLVS_SYNC_F_TEMPLATE << 8);
}

/* ---- schedulers: each returns a real id that may take the connection, or XLVS_REAL_NONE ---- */

struct walk_ctx {
	__u32 svc_id;
	__u32 tbl_size;
	__u32 start;  /* the first position tried */
	__u32 stride; /* positions between two tries */
	__u32 found;  /* the real id taken, XLVS_REAL_NONE until one is */
};

/*
 * Try k of a walk over the schedule table: position (start + k * stride) % size. A bpf_loop
 * callback rather than a loop: clang may enter a rotated loop in its middle and close it with a
 * fall-through, which 6.1's control-flow check rejects ("back-edge from insn N to N+1"), and the
 * callback is verified once whatever the number of tries.
 */
static long walk_member(__u32 k, struct walk_ctx *wc)
{
	__u32 i = (wc->start + k * wc->stride) % wc->tbl_size, *slot, id;
	void *table;

	/* verifier: the callback cannot carry the inner map pointer, so it looks the table up again (an inlined array lookup) */
	table = bpf_map_lookup_elem(&xlvs_tbl, &wc->svc_id);
	if (!table)
		return 1;
	slot = bpf_map_lookup_elem(table, &i);
	if (!slot)
		return 0;
	/* Read once: user space may rewrite the entry meanwhile (in place), and the id checked must be the id taken. */
	id = *(volatile __u32 *)slot;
	if (id == XLVS_REAL_NONE)
		return 0;
	id &= XLVS_TBL_REAL_MASK; /* a hash table's marks */
	if (!available_real(&id, wc->svc_id))
		return 0;
	wc->found = id;
	return 1;
}

/* The first real that may take a connection among tries positions of the table, or XLVS_REAL_NONE. */
static __always_inline __u32 sched_walk(const struct xlvs_svc *svc, __u32 start, __u32 stride, __u32 tries)
{
	struct walk_ctx wc = {.svc_id = svc->id, .tbl_size = svc->tbl_size, .start = start, .stride = stride, .found = XLVS_REAL_NONE};

	/* One try (mh, sh, dh without fallback: the default) needs no loop: called directly, it costs no bpf_loop call. */
	if (tries == 1)
		walk_member(0, &wc);
	else
		bpf_loop(tries, walk_member, &wc, 0);
	return wc.found;
}

/* mh, sh, dh: the bucket's owner; with fallback, the first available owner of up to XLVS_FALLBACK_TRIES buckets. */
static __always_inline __u32 sched_hashed(const struct xlvs_svc *svc, __u32 hash)
{
	return sched_walk(svc, hash % svc->tbl_size, XLVS_FALLBACK_STRIDE, svc->flags & XLVS_SVC_F_FALLBACK ? XLVS_FALLBACK_TRIES : 1);
}

/* rr, wrr: the next position of the cycle, or the next available one within XLVS_SEQ_MAX_TRIES. */
static __always_inline __u32 sched_sequence(const struct xlvs_svc *svc)
{
	__u32 svc_id = svc->id; /* verifier: 6.1 takes map keys from the stack or a map value, not from a global function's argument */
	struct xlvs_seq_pos *pos = bpf_map_lookup_elem(&xlvs_pos, &svc_id);

	if (!pos)
		return XLVS_REAL_NONE;
	return sched_walk(svc, __sync_fetch_and_add(&pos->next, 1) % svc->tbl_size, 1, svc->tbl_size < XLVS_SEQ_MAX_TRIES ? svc->tbl_size : XLVS_SEQ_MAX_TRIES);
}

struct scan_ctx {
	__u32 svc_id;
	__u32 sched;
	__u32 best;    /* real id chosen so far, XLVS_REAL_NONE if none */
	__u32 best_w;  /* its weight */
	__s64 best_oh; /* its overhead (lc, wlc, sed, nq) */
};

/* One member of a connection-count scheduler's list; IPVS's rules, first member winning ties. */
static long scan_member(__u32 i, struct scan_ctx *sc)
{
	struct xlvs_real_conns *rc;
	struct xlvs_real *real;
	__u32 *slot, id, w;
	void *table;
	__s64 oh;

	/* verifier: the callback cannot carry the inner map pointer, so it looks the table up again (an inlined array lookup) */
	table = bpf_map_lookup_elem(&xlvs_tbl, &sc->svc_id);
	if (!table)
		return 1;
	slot = bpf_map_lookup_elem(table, &i);
	if (!slot)
		return 1;
	/* Read once (user space may rewrite the entry in place); a table the control plane replaced carries marks whatever its scheduler. */
	id = *(volatile __u32 *)slot & XLVS_TBL_REAL_MASK;
	real = available_real(&id, sc->svc_id);
	if (!real)
		return 0;
	rc = bpf_map_lookup_elem(&xlvs_rconn, &id);
	if (!rc)
		return 0;
	w = real->weight;
	switch (sc->sched) {
	case XLVS_SCHED_FO:
		if (sc->best == XLVS_REAL_NONE || w > sc->best_w)
			goto take;
		return 0;
	case XLVS_SCHED_OVF:
		if (rc->active > w)
			return 0;
		if (sc->best == XLVS_REAL_NONE || w > sc->best_w)
			goto take;
		return 0;
	case XLVS_SCHED_LC:
		oh = (rc->active << 8) + rc->inactive;
		if (sc->best == XLVS_REAL_NONE || oh < sc->best_oh)
			goto take_oh;
		return 0;
	case XLVS_SCHED_WLC:
		oh = (rc->active << 8) + rc->inactive;
		break;
	case XLVS_SCHED_NQ:
		oh = rc->active + 1;
		if (rc->active == 0) {
			sc->best = id;
			return 1; /* an idle real: IPVS nq takes it at once */
		}
		break;
	default: /* XLVS_SCHED_SED */
		oh = rc->active + 1;
		break;
	}
	/* wlc, sed, nq: least overhead / weight, compared by cross-multiplication as IPVS does */
	if (sc->best == XLVS_REAL_NONE || sc->best_oh * w > oh * sc->best_w)
		goto take_oh;
	return 0;
take_oh:
	sc->best_oh = oh;
take:
	sc->best = id;
	sc->best_w = w;
	return 0;
}

static __always_inline int is_hashed(__u32 sched)
{
	return sched == XLVS_SCHED_MH || sched == XLVS_SCHED_SH || sched == XLVS_SCHED_DH;
}

/* mh, sh, dh: the hash that picks the flow's bucket (bucket = hash % tbl_size), from the flow hash of the 5-tuple. */
static __always_inline __u32 hashed_hash(const struct xlvs_svc *svc, __u32 saddr, __u32 daddr, __u32 ports, __u32 hash)
{
	__u32 port = svc->flags & XLVS_SVC_F_HASH_PORT ? ports & 0xffff : 0; /* the client port as it lies in memory */

	switch (svc->sched) {
	case XLVS_SCHED_MH:
		/* mh-port hashes the whole 5-tuple (the service fixes the rest): the flow hash already computed */
		return port ? hash : xlvs_flow_hash(saddr, 0, 0, 0);
	case XLVS_SCHED_SH:
		return xlvs_flow_hash(saddr, 0, port, 0);
	default: /* XLVS_SCHED_DH */
		return xlvs_flow_hash(0, daddr, 0, 0);
	}
}

/*
 * Marks a hash table's bucket MOVED | HELD: a connection in it goes to another real than the owner (a fallback, a
 * persistence template, a synced entry, a table change), so its packets must take the connection table. A global
 * function: verified once, outside its callers' states.
 */
__noinline int tbl_mark(__u32 svc_id, __u32 bucket)
{
	__u32 id = svc_id, i = bucket, *slot, *marked;
	void *table;

	table = bpf_map_lookup_elem(&xlvs_tbl, &id);
	if (!table)
		return 0;
	slot = bpf_map_lookup_elem(table, &i);
	if (!slot)
		return 0;
	/*
	 * A plain store, not an atomic OR (the object was first built for BPF v1, without 32-bit atomics, and this holds
	 * without one): every writer ORs the same bits into an owner only the control plane changes (by a new table); a
	 * settle racing this store can lose the mark, which the sweeper's next pass puts back (ct_hold_mark).
	 */
	if ((*slot & (XLVS_TBL_MOVED | XLVS_TBL_HELD)) != (XLVS_TBL_MOVED | XLVS_TBL_HELD))
		*(volatile __u32 *)slot = *slot | XLVS_TBL_MOVED | XLVS_TBL_HELD;
	marked = bpf_map_lookup_elem(&xlvs_tblmarked, &id);
	if (marked && !*marked)
		*marked = 1;
	return 0;
}

/* The service's bucket holds an owner other than real_id: mark it (tbl_mark). A global function. */
__noinline int tbl_mark_other(__u32 svc_id, __u32 bucket, __u32 real_id)
{
	__u32 id = svc_id, i = bucket, *slot;
	void *table;

	table = bpf_map_lookup_elem(&xlvs_tbl, &id);
	if (!table)
		return 0;
	slot = bpf_map_lookup_elem(table, &i);
	if (!slot || (*slot & XLVS_TBL_REAL_MASK) == real_id)
		return 0;
	return tbl_mark(id, i);
}

/* tbl_mark_other() for a flow of a hash service (saddr, daddr, ports, hash as schedule() takes them). */
static __always_inline void tbl_mark_if_other(const struct xlvs_svc *svc, __u32 saddr, __u32 daddr, __u32 ports, __u32 hash, __u32 real_id)
{
	if (is_hashed(svc->sched) && svc->tbl_size)
		tbl_mark_other(svc->id, hashed_hash(svc, saddr, daddr, ports, hash) % svc->tbl_size, real_id);
}

/*
 * Picks a real for a new connection, or XLVS_REAL_NONE when the service has nobody to take it. saddr, daddr: the
 * flow's addresses as one word each (an IPv4 address as it lies in memory, an IPv6 one folded by xlvs_addr6_fold);
 * hash: the flow hash of the whole 5-tuple.
 * A global function, verified once on its own: its loops (up to XLVS_FALLBACK_TRIES or
 * XLVS_SEQ_MAX_TRIES iterations) are not walked again for each path of new_connection().
 */
__noinline __u32 schedule(const struct xlvs_svc *svc, __u32 saddr, __u32 daddr, __u32 ports, __u32 hash)
{
	struct scan_ctx sc = {.best = XLVS_REAL_NONE};
	void *table;
	__u32 svc_id;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!svc)
		return XLVS_REAL_NONE;
	svc_id = svc->id; /* verifier: 6.1 takes map keys from the stack or a map value, not from a global function's argument */
	table = bpf_map_lookup_elem(&xlvs_tbl, &svc_id);
	if (!table || !svc->tbl_size)
		return XLVS_REAL_NONE;
	switch (svc->sched) {
	case XLVS_SCHED_MH:
	case XLVS_SCHED_SH:
	case XLVS_SCHED_DH:
		hash = hashed_hash(svc, saddr, daddr, ports, hash);
		break;
	case XLVS_SCHED_RR:
	case XLVS_SCHED_WRR:
		return sched_sequence(svc);
	default:
		sc.svc_id = svc->id;
		sc.sched = svc->sched;
		bpf_loop(svc->tbl_size, scan_member, &sc, 0);
		return sc.best;
	}
	return sched_hashed(svc, hash);
}

/* ---- the connection table, once per family (conntable.h; struct xlvs_ct_bucket and xlvs_ct6_bucket in xlvs_abi.h) ---- */

struct sweep_ctx {
	__u32 now;
	__u32 first;       /* the first bucket of this run */
	__u32 seed;        /* xlvs_cfg.ct_seed */
	__u32 buckets;     /* xlvs_cfg.ct_buckets (at least 1) */
	__u32 last_slice;  /* the first bucket of xlvs_conn's last slice */
	__u32 grows;       /* xlvs_ctgeo.live: the table grows (seen_bit()) */
	__u32 buckets6;    /* xlvs_cfg.ct6_buckets (at least 1) */
	__u32 last_slice6; /* the first bucket of xlvs_conn6's last slice */
	__u32 grows6;      /* xlvs_ctgeo6.live: the IPv6 table grows */
	__u32 timeout[XLVS_CS_COUNT];
	__u64 conns;
	__u64 expired;
	__u64 templates;
	__u64 templates_expired;
};

struct ctmove_ctx {
	__u32 first; /* the first bucket of this run */
	__u32 live;  /* xlvs_ctgeo.live: where entries belong */
	__u32 seed;  /* xlvs_cfg.ct_seed */
	__u32 moved; /* entries moved to their live bucket */
	__u32 left;  /* entries whose live bucket had no free way: still where they were */
};

/* IPv4: the family's parts of the connection-table logic (see conntable.h for what each must do). */
#define CT_(name)      name
#define CT_KEY         struct xlvs_conn_key
#define CT_ENTRY       struct xlvs_ct_entry
#define CT_BUCKET      struct xlvs_ct_bucket
#define CT_WAYS        XLVS_CT_WAYS
#define CT_KEY_WORDS   2
#define CT_MAP         xlvs_conn
#define CT_BUCKETS(c)  ((c)->ct_buckets)
#define CT_PERSIST_MAP xlvs_persist
#define CT_PERSIST_KEY struct xlvs_persist_key
#define CT_SYNC        1
#define CT_SEEN_MAP    xlvs_seen

/* One 64-bit load: a resize writes both fields in one store, so a lookup never sees a new size without the old one. */
static __always_inline struct xlvs_ct_geo geo_read(void *map)
{
	struct xlvs_ct_geo geo __attribute__((aligned(8))) = {};
	__u32 zero = 0;
	__u64 *g = bpf_map_lookup_elem(map, &zero);

	if (g)
		*(__u64 *)&geo = *(volatile __u64 *)g;
	return geo;
}

static __always_inline struct xlvs_ct_geo ct_geo(void)
{
	return geo_read(&xlvs_ctgeo);
}

static __always_inline __u32 ct_hash(const struct xlvs_cfg *cfg, const struct xlvs_conn_key *key, __u32 ports)
{
	return xlvs_flow_hash(key->saddr, key->daddr, ports, key->proto ^ cfg->ct_seed);
}

static __always_inline __u32 seed_hash(const struct xlvs_conn_key *key, __u32 seed)
{
	return xlvs_flow_hash(key->saddr, key->daddr, *(const __u32 *)&key->sport, key->proto ^ seed);
}

static __always_inline __u32 flow_hash(const struct xlvs_conn_key *key, __u32 ports)
{
	return xlvs_flow_hash(key->saddr, key->daddr, ports, key->proto);
}

static __always_inline void addr_words(const struct xlvs_conn_key *key, __u32 *src, __u32 *dst)
{
	*src = key->saddr;
	*dst = key->daddr;
}

static __always_inline void persist_key(struct xlvs_persist_key *pk, const struct xlvs_svc *svc, const struct xlvs_conn_key *key)
{
	pk->caddr = key->saddr & svc->persist_mask;
	pk->svc_id = svc->id;
}
/* The flow's service in xlvs_svc itself: for the sweeper and sync programs, which run in process context (below). */
static __always_inline struct xlvs_svc *service_lookup(const struct xlvs_conn_key *key)
{
	struct xlvs_svc_key skey = {.vip = key->daddr, .port = key->dport, .proto = key->proto};
	struct xlvs_svc *svc = bpf_map_lookup_elem(&xlvs_svc, &skey);

	if (svc)
		return svc;
	skey.port = 0; /* a port-0 service takes every port the exact ones leave */
	return bpf_map_lookup_elem(&xlvs_svc, &skey);
}

/*
 * The flow's service for the stateless path, through this CPU's xlvs_svcc: a hit costs a multiply and two compares
 * where the hash map costs a jhash and a bucket walk (~10 ns of an established packet's ~60). The result points into
 * the slot, valid until this CPU's next service_cached(): callers hold one at a time. Only the XDP program's IPv4 path
 * uses the cache: the sweeper runs in process context, where a softirq on its CPU could refill the slot under it, and
 * new_connection() keeps the plain lookup, its stack being the deepest of the chain (6.1 allows 512 bytes for all).
 */
static __always_inline struct xlvs_svc *service_cached(const struct xlvs_conn_key *key, __u32 gen)
{
	/* The slot's key as one word, as struct xlvs_svc_key lies in memory: vip, port, proto, pad. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__u64 word = key->daddr | (__u64)key->dport << 32 | (__u64)key->proto << 48;
#else
	__u64 word = (__u64)key->daddr << 32 | (__u64)key->dport << 16 | (__u64)key->proto << 8;
#endif
	__u32 slot = ((key->daddr ^ ((__u32)key->dport << 16) ^ key->proto) * 0x9e3779b1u) >> 24;
	struct xlvs_svc_cache *c;
	struct xlvs_svc *svc;

	_Static_assert(XLVS_SVCC_SLOTS == 1u << 8, "the slot is the top 8 bits of the product");
	c = bpf_map_lookup_elem(&xlvs_svcc, &slot);
	if (!c || !gen)
		return service_lookup(key);
	if (c->gen == gen && *(__u64 *)&c->key == word)
		return c->found ? &c->svc : NULL;
	svc = service_lookup(key);
	c->found = svc != NULL;
	if (svc)
		__builtin_memcpy(&c->svc, svc, sizeof(c->svc));
	*(__u64 *)&c->key = word;
	c->gen = gen;
	return svc ? &c->svc : NULL;
}

/* The flow's service for new connections: the plain lookup (see service_cached()). */
static __always_inline struct xlvs_svc *service_for(const struct xlvs_conn_key *key)
{
	return service_lookup(key);
}

/*
 * The new-connection budget (Katran's new-connection rate limit, per CPU per second): every new flow this CPU schedules
 * counts; past cfg->nc_budget in the second, a flow of a consistent-hash service is forwarded without an entry (counted
 * in ct_over_budget): its hash places it again on its next packet, and a flood of new flows cannot evict live entries.
 * Flows of other schedulers need their entry to stay on their real and are always recorded. A global function with
 * scalar arguments: inlined, its state grew new_connection6()'s frame past 6.1's 512 bytes for the whole chain.
 */
__noinline int over_budget(__u32 budget, __u32 sched, __u32 now, __u32 if_spent)
{
	struct xlvs_verdicts *vd;
	struct xlvs_nc_budget *b;
	__u32 zero = 0;

	if (!budget)
		return 0;
	b = bpf_map_lookup_elem(&xlvs_ncb, &zero);
	if (!b)
		return 0;
	/* if_spent: the stateless path's SYNs, counted (and over budget) only once the second's budget is spent */
	if (if_spent && (b->second != now || b->count < budget))
		return 0;
	if (b->second != now) {
		b->second = now;
		b->count = 0;
	}
	if (++b->count <= budget || (sched != XLVS_SCHED_MH && sched != XLVS_SCHED_SH && sched != XLVS_SCHED_DH))
		return 0;
	vd = bpf_map_lookup_elem(&xlvs_verdicts, &zero);
	if (vd)
		vd->ct_over_budget++;
	return 1;
}

/*
 * A flow's xlvs_seen bit among its bucket's XLVS_SEEN_BITS: hash bits its bucket index does not use, so the flows of
 * one bucket spread over the bits (a growable table's index takes the low bits, a fixed table's the high ones).
 */
static __always_inline __u32 seen_bit(__u32 h, __u32 grows)
{
	return grows ? h >> (32 - 4) : h & (XLVS_SEEN_BITS - 1);
}
_Static_assert(XLVS_SEEN_BITS == 1u << 4, "seen_bit() takes 4 bits of the hash");

/*
 * Whether the stateless path forwarded a packet with this entry's xlvs_seen bit since the bucket's bits were last
 * cleared: its bucket (idx, in the whole table) within a slice, the bit the low bits of its bucket hash pick.
 */
static __always_inline int ct_seen(const struct xlvs_ct_entry *e, __u32 idx, const struct sweep_ctx *sc)
{
	__u32 b = idx % sc->buckets, w = b / XLVS_SEEN_PER_WORD, h;
	__u64 *v = bpf_map_lookup_elem(&xlvs_seen, &w);

	if (!v)
		return 0;
	h = xlvs_flow_hash(e->key.saddr, e->key.daddr, *(const __u32 *)&e->key.sport, e->key.proto ^ sc->seed);
	return (*v >> ((b % XLVS_SEEN_PER_WORD) * XLVS_SEEN_BITS + seen_bit(h, sc->grows))) & 1;
}

/* The bucket's activity bits start afresh once its last slice is swept (an atomic AND: the datapath sets others' bits meanwhile). */
static __always_inline void ct_seen_clear(__u32 idx, const struct sweep_ctx *sc)
{
	__u32 b = idx % sc->buckets, w = b / XLVS_SEEN_PER_WORD;
	__u64 *v, mask;

	if (idx < sc->last_slice)
		return;
	v = bpf_map_lookup_elem(&xlvs_seen, &w);
	mask = (__u64)((1u << XLVS_SEEN_BITS) - 1) << ((b % XLVS_SEEN_PER_WORD) * XLVS_SEEN_BITS);
	if (v && (*v & mask))
		__sync_fetch_and_and(v, ~mask);
}

/*
 * A live entry of a hash service whose real is not its bucket's owner: the bucket stays marked (HELD), so the settle
 * after this pass keeps it MOVED and the entry's packets keep taking the connection table. A global function.
 */
__noinline int ct_hold_mark(struct xlvs_ct_entry *e)
{
	struct xlvs_conn_key k __attribute__((aligned(8)));
	struct xlvs_svc *svc;
	__u32 ports;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!e)
		return 0;
	__builtin_memcpy(&k, &e->key, sizeof(k));
	svc = service_lookup(&k);
	if (!svc || svc->id != e->val.svc_id || !is_hashed(svc->sched))
		return 0;
	ports = *(__u32 *)&k.sport;
	tbl_mark_if_other(svc, k.saddr, k.daddr, ports, flow_hash(&k, ports), e->val.real_id);
	return 0;
}

static __always_inline void ct_hold(struct xlvs_ct_entry *e)
{
	ct_hold_mark(e);
}

#include "conntable.h"

#undef CT_
#undef CT_KEY
#undef CT_ENTRY
#undef CT_BUCKET
#undef CT_WAYS
#undef CT_KEY_WORDS
#undef CT_MAP
#undef CT_BUCKETS
#undef CT_PERSIST_MAP
#undef CT_PERSIST_KEY
#undef CT_SYNC
#undef CT_SEEN_MAP

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

/* ---- ICMP errors for a flow ---- */

#define XLVS_ICMP_DEST_UNREACH  3  /* every code: fragmentation needed (4) is the one path MTU discovery needs */
#define XLVS_ICMP_SOURCE_QUENCH 4  /* deprecated (RFC 6633), forwarded as IPVS does */
#define XLVS_ICMP_TIME_EXCEEDED 11 /* TTL or reassembly time exceeded */

/*
 * An ICMP error a router sends to the VIP (IPVS ip_vs_in_icmp: destination unreachable, source quench, time
 * exceeded) quotes the datagram that caused it: the real's reply, VIP to client. It goes to the real that owns that
 * connection, rewritten like any forwarded frame, so the real's TCP learns the path MTU; the connection entry is only
 * read (no state, hits or clock), the service and real count the frame as IPVS does. No entry, or one whose real is
 * gone: the director's kernel gets it. Other ICMP (echo requests) is the kernel's too. key is the caller's
 * connection key, reused for the quoted flow; the ICMPv6 path mirrors this with packet-too-big.
 */
static __always_inline int icmp_error(struct hdr_cursor *nh, void *data_end, struct ethhdr *eth, const struct xlvs_cfg *cfg, struct xlvs_verdicts *vd,
                                      struct xlvs_conn_key *key, __u32 bytes)
{
	struct xlvs_ct_bucket *bucket;
	struct xlvs_ct_entry *e;
	struct xlvs_real *real;
	struct icmphdr *icmp;
	struct iphdr *quote;
	__u32 ports, idx, real_id, svc_id;
	int type, proto, way;

	type = parse_icmphdr(nh, data_end, &icmp);
	if (type < 0) {
		vd->pass_malformed++;
		return XDP_PASS;
	}
	if (type != XLVS_ICMP_DEST_UNREACH && type != XLVS_ICMP_SOURCE_QUENCH && type != XLVS_ICMP_TIME_EXCEEDED) {
		vd->pass_no_service++;
		return XDP_PASS;
	}
	proto = parse_icmp_quote(nh, data_end, &quote);
	if (proto < 0) {
		vd->pass_malformed++;
		return XDP_PASS;
	}
	/* A later fragment quotes no ports (IPVS passes it too); only TCP and UDP have connections. */
	if ((quote->frag_off & bpf_htons(XLVS_IP_OFFSET)) || (proto != IPPROTO_TCP && proto != IPPROTO_UDP)) {
		vd->pass_icmp_no_flow++;
		return XDP_PASS;
	}
	/* The quote runs VIP:port -> client:port; the connection is keyed the client's way round. */
	ports = *(__u32 *)nh->pos;
	key->saddr = quote->daddr;
	key->daddr = quote->saddr;
	key->sport = (__be16)(ports >> 16);
	key->dport = (__be16)ports;
	key->proto = proto;
	ports = (ports >> 16) | (ports << 16);
	way = ct_locate(cfg, key, ports, &idx, &bucket);
	if (way == -2 || !bucket) {
		vd->aborted++;
		return XDP_ABORTED;
	}
	if (way < 0) {
		vd->pass_icmp_no_flow++;
		return XDP_PASS;
	}
	e = &bucket->e[way & (XLVS_CT_WAYS - 1)];
	real_id = e->val.real_id;
	svc_id = e->val.svc_id;
	real = usable_real(&real_id, svc_id);
	if (!real) {
		vd->pass_icmp_no_flow++;
		return XDP_PASS;
	}
	__builtin_memcpy(eth->h_dest, real->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->mac, ETH_ALEN);
	count(&svc_id, &xlvs_st_svc, bytes, 0);
	count(&real_id, &xlvs_st_real, bytes, 0);
	vd->tx_icmp++;
	return XDP_TX;
}

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

struct bpf_map; /* only passed back to helpers by the bpf_for_each_map_elem callbacks */

/* ---- the sweeper: run by the control plane through BPF_PROG_TEST_RUN (any frame), never attached ---- */

/* Templates of either family: the key is only handed back to delete the entry. */
static __always_inline long sweep_template_any(struct bpf_map *map, void *key, struct xlvs_persist *t, struct sweep_ctx *sc)
{
	sc->templates++;
	if (idle_for(sc->now, t->last_seen) >= (__s32)t->timeout) {
		bpf_map_delete_elem(map, key);
		sc->templates_expired++;
	}
	return 0;
}

static long sweep_template(struct bpf_map *map, struct xlvs_persist_key *key, struct xlvs_persist *t, struct sweep_ctx *sc)
{
	struct xlvs_persist_key k = *key;

	return sweep_template_any(map, &k, t, sc);
}

static long sweep_template6(struct bpf_map *map, struct xlvs_persist6_key *key, struct xlvs_persist *t, struct sweep_ctx *sc)
{
	struct xlvs_persist6_key k = *key;

	return sweep_template_any(map, &k, t, sc);
}

/*
 * Idle timeouts: an XDP program has no timers, so the control plane runs this every
 * sweep interval. One run walks XLVS_SWEEP_CHUNK buckets from where the last one
 * stopped (a run holds its CPU, with bottom halves off, for its whole length: a pass
 * over a 4M-entry table in one run took ~40 ms); the control plane repeats runs until
 * the pass wraps. A pass walks xlvs_conn, then xlvs_conn6 (its buckets are as long:
 * half the ways, each twice the size). Templates are swept at the start of each pass.
 */
SEC("xdp")
int xlvs_sweep(struct xdp_md *ctx)
{
	struct sweep_ctx sc = {};
	struct xlvs_sweep_stats *st;
	struct xlvs_ct_geo geo;
	struct xlvs_cfg *cfg;
	__u32 zero = 0, i, n, total4, total6, total, first;

	cfg = bpf_map_lookup_elem(&xlvs_cfg, &zero);
	st = bpf_map_lookup_elem(&xlvs_sweepst, &zero);
	if (!cfg || !st)
		return XDP_ABORTED;
	sc.now = now_seconds();
	sc.seed = cfg->ct_seed;
	sc.buckets = cfg->ct_buckets ? cfg->ct_buckets : 1;
	sc.last_slice = (cfg->ct_total > sc.buckets ? cfg->ct_total : sc.buckets) - sc.buckets;
	sc.buckets6 = cfg->ct6_buckets ? cfg->ct6_buckets : 1;
	sc.last_slice6 = (cfg->ct6_total > sc.buckets6 ? cfg->ct6_total : sc.buckets6) - sc.buckets6;
#pragma unroll
	for (i = 0; i < XLVS_CS_COUNT; i++)
		sc.timeout[i] = cfg->timeout[i];
	geo = ct_geo();
	sc.grows = geo.live;
	/* A growable table's entries lie in its live buckets (and the size before's, while they move): the rest are empty. */
	total4 = geo.live ? (geo.live > geo.prev ? geo.live : geo.prev) : cfg->ct_total;
	if (!total4)
		total4 = 1;
	geo = ct_geo6();
	sc.grows6 = geo.live;
	total6 = geo.live ? (geo.live > geo.prev ? geo.live : geo.prev) : cfg->ct6_total;
	total = total4 + total6;
	first = st->cursor < total ? st->cursor : 0;
	if (!first) {
		bpf_for_each_map_elem(&xlvs_persist, sweep_template, &sc, 0);
		bpf_for_each_map_elem(&xlvs_persist6, sweep_template6, &sc, 0);
		st->templates = sc.templates;
		st->templates_expired += sc.templates_expired;
		st->pass_conns = 0;
		st->pass_conns6 = 0;
	}
	if (first < total4) {
		n = total4 - first;
		if (n > XLVS_SWEEP_CHUNK)
			n = XLVS_SWEEP_CHUNK;
		sc.first = first;
		bpf_loop(n * XLVS_CT_WAYS, sweep_way, &sc, 0);
	} else {
		n = total - first;
		if (n > XLVS_SWEEP_CHUNK)
			n = XLVS_SWEEP_CHUNK;
		sc.first = first - total4;
		bpf_loop(n * XLVS_CT6_WAYS, sweep_way6, &sc, 0);
		st->pass_conns6 += sc.conns;
	}
	st->now = sc.now;
	st->pass_conns += sc.conns;
	st->expired += sc.expired;
	st->cursor = first + n;
	if (st->cursor >= total) {
		st->cursor = 0;
		st->conns = st->pass_conns;
		st->conns6 = st->pass_conns6;
		st->runs++;
	}
	return XDP_PASS;
}

/* ---- connection sync: entries in (xlvs_syncin), run by the sync backup through BPF_PROG_TEST_RUN, never attached ---- */

/*
 * A way for a synced connection: a free one, else one past its idle timeout; NULL when every way holds a live
 * connection (a copy of another director's flow does not evict this one's). Claimed like a datapath insert.
 */
static __always_inline struct xlvs_ct_entry *sync_claim(struct xlvs_ct_bucket *b, const struct xlvs_cfg *cfg, const struct xlvs_conn_key *key, __u32 now)
{
	__u64 want = ((const __u64 *)key)[0], was;
	struct xlvs_ct_entry *e;
	struct xlvs_conn old;
	int tries;

#pragma unroll
	for (tries = 0; tries < 2; tries++) {
		e = ct_victim(b, cfg->timeout, now);
		was = ((__u64 *)&e->key)[0];
		if (was && ct_overdue(e, cfg->timeout, now) < 0)
			return NULL;
		old = e->val;
		if (__sync_val_compare_and_swap((__u64 *)&e->key, was, want) != was)
			continue;
		if (was)
			unbind_conn(old.real_id, old.state);
		return e;
	}
	return NULL;
}

/* A template a peer synced: written (or re-pointed) with this director's clock and the service's timeout. */
static __always_inline int sync_put_template(const struct xlvs_svc *svc, const struct xlvs_conn_key *key, __u32 real_id, __u32 now)
{
	struct xlvs_persist_key pk = {.caddr = key->saddr & svc->persist_mask, .svc_id = svc->id};
	struct xlvs_persist t = {.real_id = real_id, .svc_id = svc->id, .last_seen = now, .timeout = svc->persist_timeout};
	struct xlvs_persist *have;

	if (!svc->persist_timeout)
		return XLVS_SYNC_R_NO_SVC;
	have = bpf_map_lookup_elem(&xlvs_persist, &pk);
	if (have) {
		*have = t;
		return XLVS_SYNC_R_UPDATED;
	}
	bpf_map_update_elem(&xlvs_persist, &pk, &t, BPF_ANY);
	return XLVS_SYNC_R_INSERTED;
}

/* A synced entry whose real is not its bucket's owner (the peer's table or health view differs): its bucket is marked. */
static __always_inline void sync_mark(const struct xlvs_svc *svc, const struct xlvs_conn_key *key, __u32 real_id)
{
	__u32 ports = *(const __u32 *)&key->sport;

	tbl_mark_if_other(svc, key->saddr, key->daddr, ports, flow_hash(key, ports), real_id);
}

/* sync_mark() for an IPv6 entry, over the folded addresses. */
static __always_inline void sync_mark6(const struct xlvs_svc *svc, const struct xlvs_conn6_key *key, __u32 real_id)
{
	__u32 ports = *(const __u32 *)&key->sport, src, dst;

	addr_words6(key, &src, &dst);
	tbl_mark_if_other(svc, src, dst, ports, flow_hash6(key, ports), real_id);
}

/*
 * One synced entry, with the datapath's own insert logic: the same bucket, a CAS-claimed way, counted in xlvs_rconn,
 * stamped with this director's clock so its sweeper expires the copy by its own timeouts. A held key is updated and
 * recounted: moved between the reals' counts if the real differs, between active and inactive if the state does.
 * A global function: verified once, not once per path of the loop around it.
 */
__noinline int sync_insert(struct xlvs_sync_in *in)
{
	struct xlvs_conn_key key __attribute__((aligned(8)));
	struct xlvs_ct_bucket *b;
	struct xlvs_ct_entry *e;
	struct xlvs_real *real;
	struct xlvs_svc *svc;
	struct xlvs_cfg *cfg;
	struct xlvs_conn val = {};
	__u32 zero = 0, real_id, idx, now;
	__u8 state, old_state;
	int w;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!in)
		return XLVS_SYNC_R_NONE;
	cfg = bpf_map_lookup_elem(&xlvs_cfg, &zero);
	if (!cfg)
		return XLVS_SYNC_R_NONE;
	if (cfg->ct_per_cpu)
		return XLVS_SYNC_R_PER_CPU;
	__builtin_memcpy(&key, &in->key, sizeof(key));
	key.pad[0] = key.pad[1] = key.pad[2] = 0; /* the key is hashed and compared as raw bytes */
	real_id = in->real_id;                    /* verifier: 6.1 takes map keys from the stack, not from a global function's argument */
	state = in->state;
	svc = service_lookup(&key);
	if (!svc || svc->id != in->svc_id)
		return XLVS_SYNC_R_NO_SVC;
	real = bpf_map_lookup_elem(&xlvs_reals, &real_id);
	if (!real || real->svc_id != svc->id || !real->addr)
		return XLVS_SYNC_R_NO_REAL;
	now = now_seconds();
	if (in->flags & XLVS_SYNC_F_TEMPLATE)
		return sync_put_template(svc, &key, real_id, now);
	if (state < XLVS_CS_SYN_RECV || state > XLVS_CS_UDP)
		return XLVS_SYNC_R_BAD;
	if (!key.saddr || !key.daddr)
		return XLVS_SYNC_R_NO_SVC;
	val.real_id = real_id;
	val.svc_id = svc->id;
	val.state = state;
	val.flags = svc->persist_timeout ? XLVS_CONN_F_PERSIST : 0;
	val.last_seen = now;
	w = ct_locate(cfg, &key, *(__u32 *)&key.sport, &idx, &b);
	if (w == -2 || !b)
		return XLVS_SYNC_R_NONE;
	if (w >= 0) {
		e = &b->e[w & (XLVS_CT_WAYS - 1)];
		old_state = e->val.state;
		if (e->val.real_id != real_id) {
			unbind_conn(e->val.real_id, old_state);
			bind_conn(real_id, state, real->u_threshold);
		} else {
			restate_conn(real_id, old_state, state);
		}
		val.hits = e->val.hits;
		val.hits_seen = e->val.hits_seen;
		e->val = val;
		sync_mark(svc, &key, real_id);
		return XLVS_SYNC_R_UPDATED;
	}
	e = sync_claim(b, cfg, &key, now);
	if (!e)
		return XLVS_SYNC_R_FULL;
	e->val = val;
	((__u64 *)&e->key)[1] = ((__u64 *)&key)[1];
	bind_conn(real_id, state, real->u_threshold);
	sync_mark(svc, &key, real_id);
	return XLVS_SYNC_R_INSERTED;
}

struct syncin_ctx {
	struct xdp_md *ctx;
};

/* Entry i of the frame: copied out, inserted, its result written back into the frame BPF_PROG_TEST_RUN returns. */
static long syncin_one(__u32 i, struct syncin_ctx *sc)
{
	struct xlvs_sync_in in;
	__u32 off = i * sizeof(in);

	if (bpf_xdp_load_bytes(sc->ctx, off, &in, sizeof(in)))
		return 1;
	in.result = sync_insert(&in);
	bpf_xdp_store_bytes(sc->ctx, off + __builtin_offsetof(struct xlvs_sync_in, result), &in.result, sizeof(in.result));
	return 0;
}

/* The frame is an array of struct xlvs_sync_in (at most XLVS_SYNCIN_MAX); each entry's result says what became of it. */
SEC("xdp")
int xlvs_syncin(struct xdp_md *ctx)
{
	struct syncin_ctx sc = {.ctx = ctx};
	__u32 n = (ctx->data_end - ctx->data) / sizeof(struct xlvs_sync_in);

	if (n > XLVS_SYNCIN_MAX)
		n = XLVS_SYNCIN_MAX;
	bpf_loop(n, syncin_one, &sc, 0);
	return XDP_PASS;
}

/* ---- connection sync: IPv6 entries in (xlvs_syncin6), as xlvs_syncin for xlvs_conn6 and xlvs_persist6 ---- */

/* sync_claim() for the IPv6 table. */
static __always_inline struct xlvs_ct6_entry *sync_claim6(struct xlvs_ct6_bucket *b, const struct xlvs_cfg *cfg, const struct xlvs_conn6_key *key, __u32 now)
{
	__u64 want = ((const __u64 *)key)[0], was;
	struct xlvs_ct6_entry *e;
	struct xlvs_conn old;
	int tries;

#pragma unroll
	for (tries = 0; tries < 2; tries++) {
		e = ct_victim6(b, cfg->timeout, now);
		was = ((__u64 *)&e->key)[0];
		if (was && ct_overdue6(e, cfg->timeout, now) < 0)
			return NULL;
		old = e->val;
		if (__sync_val_compare_and_swap((__u64 *)&e->key, was, want) != was)
			continue;
		if (was)
			unbind_conn(old.real_id, old.state);
		return e;
	}
	return NULL;
}

/* sync_put_template() for an IPv6 service: the template of the client's /persist_plen6 prefix. */
static __always_inline int sync_put_template6(const struct xlvs_svc *svc, const struct xlvs_conn6_key *key, __u32 real_id, __u32 now)
{
	struct xlvs_persist t = {.real_id = real_id, .svc_id = svc->id, .last_seen = now, .timeout = svc->persist_timeout};
	struct xlvs_persist6_key pk;
	struct xlvs_persist *have;

	if (!svc->persist_timeout)
		return XLVS_SYNC_R_NO_SVC;
	persist_key6(&pk, svc, key);
	have = bpf_map_lookup_elem(&xlvs_persist6, &pk);
	if (have) {
		*have = t;
		return XLVS_SYNC_R_UPDATED;
	}
	bpf_map_update_elem(&xlvs_persist6, &pk, &t, BPF_ANY);
	return XLVS_SYNC_R_INSERTED;
}

/* sync_insert() for an IPv6 entry: the same checks, counts and claim, in xlvs_conn6. A global function. */
__noinline int sync_insert6(struct xlvs_sync_in6 *in)
{
	struct xlvs_conn6_key key __attribute__((aligned(8)));
	struct xlvs_ct6_bucket *b;
	struct xlvs_ct6_entry *e;
	struct xlvs_real6 *ra;
	struct xlvs_real *real;
	struct xlvs_svc *svc;
	struct xlvs_cfg *cfg;
	struct xlvs_conn val = {};
	__u32 zero = 0, real_id, idx, now;
	__u8 state, old_state;
	int w;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!in)
		return XLVS_SYNC_R_NONE;
	cfg = bpf_map_lookup_elem(&xlvs_cfg, &zero);
	if (!cfg)
		return XLVS_SYNC_R_NONE;
	if (cfg->ct_per_cpu)
		return XLVS_SYNC_R_PER_CPU;
	__builtin_memcpy(&key, &in->key, sizeof(key));
	__builtin_memset(key.pad, 0, sizeof(key.pad)); /* the key is hashed and compared as raw words */
	real_id = in->real_id;                         /* verifier: 6.1 takes map keys from the stack, not from a global function's argument */
	state = in->state;
	svc = service_for6(&key);
	if (!svc || svc->id != in->svc_id)
		return XLVS_SYNC_R_NO_SVC;
	real = bpf_map_lookup_elem(&xlvs_reals, &real_id);
	ra = bpf_map_lookup_elem(&xlvs_raddr6, &real_id);
	if (!real || !ra || real->svc_id != svc->id || !(((__u64 *)ra->addr)[0] | ((__u64 *)ra->addr)[1]))
		return XLVS_SYNC_R_NO_REAL;
	now = now_seconds();
	if (in->flags & XLVS_SYNC_F_TEMPLATE)
		return sync_put_template6(svc, &key, real_id, now);
	if (state < XLVS_CS_SYN_RECV || state > XLVS_CS_UDP)
		return XLVS_SYNC_R_BAD;
	/* A free way is one whose first word is zero: a client in ::/64 cannot be held (as in the datapath). */
	if (!((__u64 *)&key)[0])
		return XLVS_SYNC_R_NO_SVC;
	val.real_id = real_id;
	val.svc_id = svc->id;
	val.state = state;
	val.flags = svc->persist_timeout ? XLVS_CONN_F_PERSIST : 0;
	val.last_seen = now;
	w = ct_locate6(cfg, &key, *(__u32 *)&key.sport, &idx, &b);
	if (w == -2 || !b)
		return XLVS_SYNC_R_NONE;
	if (w >= 0) {
		e = &b->e[w & (XLVS_CT6_WAYS - 1)];
		old_state = e->val.state;
		if (e->val.real_id != real_id) {
			unbind_conn(e->val.real_id, old_state);
			bind_conn(real_id, state, real->u_threshold);
		} else {
			restate_conn(real_id, old_state, state);
		}
		val.hits = e->val.hits;
		val.hits_seen = e->val.hits_seen;
		e->val = val;
		sync_mark6(svc, &key, real_id);
		return XLVS_SYNC_R_UPDATED;
	}
	e = sync_claim6(b, cfg, &key, now);
	if (!e)
		return XLVS_SYNC_R_FULL;
	e->val = val;
	ct_publish6(e, &key);
	bind_conn(real_id, state, real->u_threshold);
	sync_mark6(svc, &key, real_id);
	return XLVS_SYNC_R_INSERTED;
}

static long syncin6_one(__u32 i, struct syncin_ctx *sc)
{
	struct xlvs_sync_in6 in;
	__u32 off = i * sizeof(in);

	if (bpf_xdp_load_bytes(sc->ctx, off, &in, sizeof(in)))
		return 1;
	in.result = sync_insert6(&in);
	bpf_xdp_store_bytes(sc->ctx, off + __builtin_offsetof(struct xlvs_sync_in6, result), &in.result, sizeof(in.result));
	return 0;
}

/* The frame is an array of struct xlvs_sync_in6 (at most XLVS_SYNCIN6_MAX); each entry's result says what became of it. */
SEC("xdp")
int xlvs_syncin6(struct xdp_md *ctx)
{
	struct syncin_ctx sc = {.ctx = ctx};
	__u32 n = (ctx->data_end - ctx->data) / sizeof(struct xlvs_sync_in6);

	if (n > XLVS_SYNCIN6_MAX)
		n = XLVS_SYNCIN6_MAX;
	bpf_loop(n, syncin6_one, &sc, 0);
	return XDP_PASS;
}

/* ---- hash-table marks: settled after each sweep pass, run by the control plane through BPF_PROG_TEST_RUN, never attached ---- */

struct tblmark_ctx {
	__u32 svc_id;
	__u32 mode;  /* XLVS_TBLMARK_* */
	__u32 moved; /* 1: a bucket is left MOVED */
};

/*
 * One bucket. Settle: HELD (a live entry differed from the owner this pass, or a mark came since) is cleared and MOVED
 * kept; MOVED without HELD is cleared. A plain store, as tbl_mark()'s: a mark new_connection() or a sync
 * insert stores in the same nanoseconds can be lost; the sweeper's next pass puts it back (ct_hold_mark).
 */
static long tblmark_one(__u32 i, struct tblmark_ctx *tc)
{
	__u32 *slot, v, nv;
	void *table;

	/* verifier: the callback cannot carry the inner map pointer, so it looks the table up again (an inlined array lookup) */
	table = bpf_map_lookup_elem(&xlvs_tbl, &tc->svc_id);
	if (!table)
		return 1;
	slot = bpf_map_lookup_elem(table, &i);
	if (!slot)
		return 1; /* past the end of the table */
	v = *(volatile __u32 *)slot;
	if (v == XLVS_REAL_NONE)
		return 0;
	if (tc->mode == XLVS_TBLMARK_ALL) {
		*(volatile __u32 *)slot = v | XLVS_TBL_MOVED | XLVS_TBL_HELD;
		tc->moved = 1; /* verifier: a flag, not a count, so the callback's states converge */
		return 0;
	}
	if (!(v & (XLVS_TBL_MOVED | XLVS_TBL_HELD)))
		return 0;
	nv = v & XLVS_TBL_HELD ? v & ~XLVS_TBL_HELD : v & ~XLVS_TBL_MOVED;
	*(volatile __u32 *)slot = nv;
	if (nv & XLVS_TBL_MOVED)
		tc->moved = 1;
	return 0;
}

/*
 * The frame: the service id and XLVS_TBLMARK_*. Its xlvs_tblmarked flag is cleared first and set again if a bucket
 * stays MOVED (the datapath sets it with any mark it adds meanwhile); retval 1 when one does.
 */
SEC("xdp")
int xlvs_tblmark(struct xdp_md *ctx)
{
	struct tblmark_ctx tc = {};
	__u32 in[2], *marked;

	if (bpf_xdp_load_bytes(ctx, 0, in, sizeof(in)))
		return XDP_ABORTED;
	tc.svc_id = in[0];
	tc.mode = in[1];
	marked = bpf_map_lookup_elem(&xlvs_tblmarked, &tc.svc_id);
	if (!marked)
		return XDP_ABORTED;
	*marked = 0;
	bpf_loop(XLVS_TBL_MAX, tblmark_one, &tc, 0);
	if (tc.moved)
		*marked = 1;
	return tc.moved;
}

/* ---- the growable connection table: entries moved to a new size (xlvs_ctmove), run by the control plane through BPF_PROG_TEST_RUN, never attached ---- */

/*
 * Resizes a growable xlvs_conn, or xlvs_conn6 with XLVS_CTMOVE_F_INET6 (the frame: XLVS_CTMOVE_* and its argument;
 * each table has its own xlvs_ctgeo and is resized on its own). The control plane begins a resize, steps
 * over every bucket of both sizes until a whole walk moves nothing and leaves nothing, then ends it; a lookup tries
 * the size before's bucket, then the live one, until the end. Serialised with xlvs_sweep by the control plane, which
 * also waits an RCU grace period after BEGIN and REVERT before the first step: a packet that read xlvs_ctgeo before
 * the change looks only where its entry lay then, and must be done before any entry moves.
 */
SEC("xdp")
int xlvs_ctmove(struct xdp_md *ctx)
{
	struct xlvs_ct_geo geo __attribute__((aligned(8)));
	struct ctmove_ctx mc = {};
	struct xlvs_cfg *cfg;
	__u32 in[2], zero = 0, span, n, t, inet6;
	__u64 *g;

	if (bpf_xdp_load_bytes(ctx, 0, in, sizeof(in)))
		return XDP_ABORTED;
	inet6 = in[0] & XLVS_CTMOVE_F_INET6;
	cfg = bpf_map_lookup_elem(&xlvs_cfg, &zero);
	g = inet6 ? bpf_map_lookup_elem(&xlvs_ctgeo6, &zero) : bpf_map_lookup_elem(&xlvs_ctgeo, &zero);
	if (!cfg || !g)
		return XDP_ABORTED;
	*(__u64 *)&geo = *(volatile __u64 *)g;
	switch (in[0] & ~XLVS_CTMOVE_F_INET6) {
	case XLVS_CTMOVE_BEGIN:
		if (!geo.live || geo.prev || cfg->ct_per_cpu || !in[1] || (in[1] & (in[1] - 1)) || in[1] > (inet6 ? cfg->ct6_buckets : cfg->ct_buckets))
			return 1;
		geo.prev = geo.live;
		geo.live = in[1];
		break;
	case XLVS_CTMOVE_STEP:
		span = geo.live > geo.prev ? geo.live : geo.prev;
		if (!geo.live || in[1] >= span)
			return 0;
		n = span - in[1];
		if (n > XLVS_SWEEP_CHUNK)
			n = XLVS_SWEEP_CHUNK;
		mc.first = in[1];
		mc.live = geo.live;
		mc.seed = cfg->ct_seed;
		if (inet6)
			bpf_loop(n * XLVS_CT6_WAYS, ctmove_way6, &mc, 0);
		else
			bpf_loop(n * XLVS_CT_WAYS, ctmove_way, &mc, 0);
		/* verifier: the counts go back in the frame, not as the return value, which would make them precise and keep the walk's loop from converging */
		bpf_xdp_store_bytes(ctx, 8, &mc.moved, 2 * sizeof(__u32));
		return 0;
	case XLVS_CTMOVE_END:
		geo.prev = 0;
		break;
	case XLVS_CTMOVE_REVERT:
		if (!geo.prev)
			return 1;
		t = geo.live;
		geo.live = geo.prev;
		geo.prev = t;
		break;
	default:
		return 1;
	}
	*(volatile __u64 *)g = *(__u64 *)&geo;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
