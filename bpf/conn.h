/* SPDX-License-Identifier: GPL-2.0-only */
/* conn.h: helpers every path shares, included once by xlvs.bpf.c: the clock, counters, usable reals, connection accounting, TCP states. */

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
