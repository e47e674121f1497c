/* SPDX-License-Identifier: GPL-2.0-only */
/* conntable.h: the connection table's logic once for both families, included by conntable4.h and conntable6.h with their types and names. */

/*
 * Included twice, not compiled alone: conntable4.h and conntable6.h define before their inclusion
 *   CT_(name)        the family's name for a function or type (name, name6)
 *   CT_KEY           its connection key (struct xlvs_conn_key, struct xlvs_conn6_key)
 *   CT_ENTRY         its entry, CT_BUCKET its bucket, CT_WAYS the ways of a bucket
 *   CT_KEY_WORDS     the 8-byte words of the key that hold the flow (the rest is zero padding)
 *   CT_MAP           the table (xlvs_conn, xlvs_conn6); CT_BUCKETS(cfg) the buckets of one slice
 *   CT_PERSIST_MAP   its persistence templates, CT_PERSIST_KEY their key
 *   CT_SYNC          1: new entries and templates are recorded for connection sync (through CT_(sync_emit))
 *   CT_SEEN_MAP      the activity bits of its established flows (xlvs_seen, xlvs_seen6)
 * and the family's own inline functions the logic calls:
 *   CT_(ct_hash)(cfg, key, ports)            the seeded hash that picks the flow's bucket
 *   CT_(seed_hash)(key, seed)                the same from an entry's key and a copy of the seed (sweeper, resize)
 *   CT_(ct_geo)()                            the growable table's size (struct xlvs_ct_geo), all zero for a fixed table
 *   CT_(flow_hash)(key, ports)               the flow hash mh-port schedules by (xlvs_hash.h, as src/core/flowhash.ts)
 *   CT_(addr_words)(key, &src, &dst)         the addresses as one word each for sh, dh and mh without port
 *   CT_(service_for)(key)                    the flow's service, exact port first, then port 0 (the forwarding path's)
 *   CT_(service_lookup)(key)                 the same, for the sweeper (process context: no per-CPU cache)
 *   CT_(persist_key)(pk, svc, key)           the template key of the flow's client network
 * Everything below is the same algorithm for both: the claim, the eviction choice, the insert order; the sweep (ctsweep.h) and
 * the resize (ctresize.h) are included at the end, part of the same template.
 */

/* verifier: both keys are 8-byte aligned (stack variable and map value), so word compares cover the key */
static __always_inline int CT_(conn_key_eq)(const CT_KEY *a, const CT_KEY *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	int i;

#pragma unroll
	for (i = 0; i < CT_KEY_WORDS; i++)
		if (x[i] != y[i])
			return 0;
	return 1;
}

/*
 * The index of the flow's bucket. A growable table (CT_(ct_geo)().live set) takes the hash's low bits: doubling the
 * size sends each bucket's flows to itself or one new bucket. A fixed table scales the hash by multiply-shift (no
 * division, any bucket count). *was: while the table is being resized, the bucket of the size before (the entry may
 * still lie there), else the same index.
 */
static __always_inline __u32 CT_(ct_bucket)(const struct xlvs_cfg *cfg, const CT_KEY *key, __u32 ports, __u32 *was)
{
	struct xlvs_ct_geo geo = CT_(ct_geo)();
	__u32 h = CT_(ct_hash)(cfg, key, ports), idx, base = 0;

	if (cfg->ct_per_cpu)
		base = bpf_get_smp_processor_id() * CT_BUCKETS(cfg);
	if (!geo.live) {
		idx = (((__u64)h * CT_BUCKETS(cfg)) >> 32) + base;
		*was = idx;
		return idx;
	}
	idx = (h & (geo.live - 1)) + base;
	*was = geo.prev ? (h & (geo.prev - 1)) + base : idx;
	return idx;
}

/* The way holding key, or -1. */
static __always_inline int CT_(ct_find)(CT_BUCKET *b, const CT_KEY *key)
{
	int w;

#pragma unroll
	for (w = 0; w < CT_WAYS; w++)
		if (CT_(conn_key_eq)(&b->e[w].key, key))
			return w;
	return -1;
}

/*
 * The flow's entry: returns its way, or -1 with *idx and *b the bucket a new entry goes in (the current size's), or -2
 * when the table has no such bucket. While the table is being resized the entry may still lie in the size before's
 * bucket, and that one is looked in first: xlvs_ctmove copies an entry to its live bucket before it frees the old
 * way, so a lookup that misses the old way finds the copy (looking the other way round, a move between the two reads
 * hid the entry from both, and the flow was scheduled afresh).
 */
static __always_inline int CT_(ct_locate)(const struct xlvs_cfg *cfg, const CT_KEY *key, __u32 ports, __u32 *idx, CT_BUCKET **b)
{
	CT_BUCKET *old;
	__u32 was;
	int way;

	*idx = CT_(ct_bucket)(cfg, key, ports, &was);
	if (was != *idx) {
		old = bpf_map_lookup_elem(&CT_MAP, &was);
		if (old) {
			way = CT_(ct_find)(old, key);
			if (way >= 0) {
				*idx = was;
				*b = old;
				return way;
			}
		}
	}
	*b = bpf_map_lookup_elem(&CT_MAP, idx);
	/* verifier: the index is in range for a correctly sized map, but array lookups may still return NULL */
	if (!*b)
		return -2;
	return CT_(ct_find)(*b, key);
}

/*
 * A way is held while the first word of its key (IPv4: client address and VIP; IPv6: the client address's first half)
 * is non-zero: no flow the datapath tracks has it zero, and that word is the one a claim swaps atomically, so an entry
 * the sweeper or another CPU is clearing or taking over is never counted twice.
 */
static __always_inline int CT_(ct_held)(const CT_ENTRY *e)
{
	return *(const __u64 *)&e->key != 0;
}

/* Seconds an entry is past its state's idle timeout (negative: still within it). */
static __always_inline __s32 CT_(ct_overdue)(const CT_ENTRY *e, const __u32 *timeout, __u32 now)
{
	return idle_for(now, e->val.last_seen) - (__s32)timeout[e->val.state & (XLVS_CS_COUNT - 1)];
}

/* The way a new flow takes: a free one, else the one furthest past (or nearest to) its idle timeout. */
static __always_inline CT_ENTRY *CT_(ct_victim)(CT_BUCKET *b, const __u32 *timeout, __u32 now)
{
	CT_ENTRY *v = &b->e[0];
	__s32 worst = 0, o;
	int w;

#pragma unroll
	for (w = 0; w < CT_WAYS; w++) {
		if (!CT_(ct_held)(&b->e[w]))
			return &b->e[w];
		o = CT_(ct_overdue)(&b->e[w], timeout, now);
		if (w == 0 || o > worst) {
			worst = o;
			v = &b->e[w];
		}
		/* verifier: keeps clang from hoisting the ways' loads into one spill slot each (new_connection() grew 64 bytes, past 6.1's 512 for the chain) */
		barrier_var(v);
	}
	return v;
}

/*
 * The rest of the key after its claimed first word, written after the value: a reader on another CPU matches only a
 * key whose words are all written. (An IPv6 key's rest is several stores: a reader racing them may match a key that
 * shares the claimed word and the words already written, and forward that one packet by the new value.)
 */
static __always_inline void CT_(ct_publish)(CT_ENTRY *e, const CT_KEY *key)
{
	int i;

#pragma unroll
	for (i = 1; i < CT_KEY_WORDS; i++)
		((__u64 *)&e->key)[i] = ((const __u64 *)key)[i];
}

/*
 * A new connection, as the XDP program hands it to new_connection(): its own type so that the
 * new-connection path is a global function (below), verified once for every caller state.
 */
struct CT_(new_conn) {
	CT_KEY key;     /* in: the flow */
	__u32 ports;    /* in: the port pair as it lies in the frame */
	__u32 bucket;   /* in: the index of the flow's bucket in the table */
	__s32 way;      /* in: the way that holds this key already (its connection is being replaced, and was uncounted), or -1 */
	__u8 tcp_flags; /* in: the TCP flag byte (0 for UDP) */
	__u8 evicted;   /* out: a live entry was replaced to make room (xlvs_verdicts.ct_evicted) */
	__u8 untracked; /* out: forwarded but not recorded (xlvs_verdicts.ct_untracked) */
	__u8 sync;      /* out, only while xlvs_cfg.sync_emit: NC_SYNC_* for the caller to record */
	__u32 svc_id;   /* out: the service (NC_DROP, NC_TX) */
	__u32 real_id;  /* out: the real (NC_TX) */
};

/*
 * Takes a way for key and uncounts what it held. The claim is a compare-and-swap of the
 * key's first word, so two CPUs inserting into one bucket at once cannot both
 * take the same way and leave a mix of two keys; the loser picks again once. Per-CPU
 * slices have one writer and skip the atomic. The caller writes the value, then the
 * rest of the key (ct_publish): a reader on another CPU matches only whole keys.
 * A flow its service's hash places (mh, sh, dh; no template, no fallback) takes no way whose connection is within its
 * idle timeout: when all are, it goes unrecorded (NULL, untracked). Its packets find their real by the hash as before,
 * so a SYN flood into full buckets takes no established flow's entry. Other schedulers' flows would move without one.
 */
static __always_inline CT_ENTRY *CT_(ct_claim)(CT_BUCKET *b, const struct xlvs_cfg *cfg, const CT_KEY *key, __u32 now, struct CT_(new_conn) * nc,
                                               const struct xlvs_svc *svc)
{
	__u64 want = ((const __u64 *)key)[0], was;
	struct xlvs_conn old;
	CT_ENTRY *e;
	int tries;

#pragma unroll
	for (tries = 0; tries < 2; tries++) {
		e = CT_(ct_victim)(b, cfg->timeout, now);
		was = ((__u64 *)&e->key)[0];
		/* verifier: svc read here, not a flag from the caller: a flag live across the call spilled, past 6.1's 512 bytes */
		if (was && is_hashed(svc->sched) && !svc->persist_timeout && !(svc->flags & XLVS_SVC_F_FALLBACK) && CT_(ct_overdue)(e, cfg->timeout, now) < 0)
			break;
		old = e->val;
		if (cfg->ct_per_cpu)
			((__u64 *)&e->key)[0] = want;
		else if (__sync_val_compare_and_swap((__u64 *)&e->key, was, want) != was)
			continue;
		if (was) {
			if (CT_(ct_overdue)(e, cfg->timeout, now) < 0)
				nc->evicted = 1;
			unbind_conn(old.real_id, old.state);
		}
		return e;
	}
	nc->untracked = 1;
	return NULL;
}

/* A persistent service's template for this client, if it still names a real that may take connections. */
static __always_inline __u32 CT_(persist_lookup)(const struct xlvs_svc *svc, CT_PERSIST_KEY *pk, __u32 now)
{
	struct xlvs_persist *t = bpf_map_lookup_elem(&CT_PERSIST_MAP, pk);

	if (!t || t->svc_id != svc->id || idle_for(now, t->last_seen) >= (__s32)t->timeout)
		return XLVS_REAL_NONE;
	/*
	 * A template is honoured only while its real takes new connections (IPVS with expire_quiescent_template=1), so
	 * drain and health act on persistent clients too.
	 */
	if (!available_real(&t->real_id, svc->id))
		return XLVS_REAL_NONE;
	t->last_seen = now;
	return t->real_id;
}

/*
 * Schedules a new connection and records it in the flow's bucket. A global function: the verifier
 * checks it once, on its own, instead of once for every state the XDP program reaches it in (no
 * entry, an entry whose real went away, a reused 5-tuple; TCP or UDP; each flag combination),
 * which multiplied this path, its schedulers and its loops, into most of the program's budget.
 */
__noinline int CT_(new_connection)(struct CT_(new_conn) * nc)
{
	CT_PERSIST_KEY pk = {};
	struct xlvs_conn fresh = {};
	CT_BUCKET *bucket;
	CT_ENTRY *e = NULL;
	struct xlvs_counters *c;
	struct xlvs_real *real;
	struct xlvs_svc *svc;
	struct xlvs_cfg *cfg;
	__u32 zero = 0, real_id = XLVS_REAL_NONE, bucket_idx, svc_id, now, src, dst;
	int scheduled = 0;
	__u8 state;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!nc)
		return NC_ABORT;
	cfg = bpf_map_lookup_elem(&xlvs_cfg, &zero);
	bucket_idx = nc->bucket; /* verifier: 6.1 takes map keys from the stack or a map value, not from a global function's argument */
	bucket = bpf_map_lookup_elem(&CT_MAP, &bucket_idx);
	if (!cfg || !bucket)
		return NC_ABORT;
	/* Kept in *nc, not a register: a value live to the end of this function would spill and grow its stack (6.1: 512 bytes for all frames). */
	nc->sync = CT_SYNC && cfg->sync_emit ? NC_SYNC_CONN : 0;
	if (nc->way >= 0)
		e = &bucket->e[nc->way & (CT_WAYS - 1)];
	/* verifier: clang would test "way >= 0" again for every "if (e)" below, and 6.1 cannot tell from that that e is NULL */
	barrier_var(e);
	now = now_seconds();
	svc = CT_(service_for)(&nc->key);
	if (!svc) {
		if (e)
			__builtin_memset(&e->key, 0, sizeof(e->key));
		return NC_PASS;
	}
	svc_id = svc->id;
	nc->svc_id = svc_id;
	if (svc->persist_timeout) {
		CT_(persist_key)(&pk, svc, &nc->key);
		real_id = CT_(persist_lookup)(svc, &pk, now);
	}
	if (real_id == XLVS_REAL_NONE) {
		CT_(addr_words)(&nc->key, &src, &dst);
		real_id = schedule(svc, src, dst, nc->ports, CT_(flow_hash)(&nc->key, nc->ports));
		scheduled = 1;
	}
	real = real_id == XLVS_REAL_NONE ? NULL : bpf_map_lookup_elem(&xlvs_reals, &real_id);
	if (!real) {
		if (e)
			__builtin_memset(&e->key, 0, sizeof(e->key));
		c = bpf_map_lookup_elem(&xlvs_st_svc, &svc_id);
		if (c)
			c->drops++;
		return NC_DROP;
	}
	if (svc->persist_timeout) {
		struct xlvs_persist t = {.real_id = real_id, .svc_id = svc->id, .last_seen = now, .timeout = svc->persist_timeout};

		/* An honoured template was refreshed by persist_lookup(); only a fresh choice is written. */
		if (scheduled) {
			bpf_map_update_elem(&CT_PERSIST_MAP, &pk, &t, BPF_ANY);
			nc->sync |= nc->sync << 1; /* NC_SYNC_TEMPLATE while sync is on */
		}
		fresh.flags = XLVS_CONN_F_PERSIST;
	}
	state = nc->key.proto == IPPROTO_TCP ? tcp_first_state(nc->tcp_flags) : XLVS_CS_UDP;
	fresh.real_id = real_id;
	fresh.svc_id = svc->id;
	fresh.state = state;
	fresh.last_seen = now;
	if (e) {
		e->val = fresh; /* the key is already this flow's */
	} else if (!over_budget(cfg->nc_budget, svc->sched, now, 0)) {
		e = CT_(ct_claim)(bucket, cfg, &nc->key, now, nc, svc);
		if (e) {
			e->val = fresh;
			CT_(ct_publish)(e, &nc->key);
		}
	}
	if (e)
		bind_conn(real_id, state, real->u_threshold);
	else
		nc->sync &= ~NC_SYNC_CONN;
	/*
	 * A template or a fallback may send the flow to another real than its bucket's owner: the bucket is marked so its
	 * established packets keep taking this entry (without either, the real is the owner).
	 */
	if (svc->persist_timeout || (svc->flags & XLVS_SVC_F_FALLBACK)) {
		CT_(addr_words)(&nc->key, &src, &dst);
		tbl_mark_if_other(svc, src, dst, nc->ports, CT_(flow_hash)(&nc->key, nc->ports), real_id);
	}
	nc->real_id = real_id;
	return NC_TX;
}

/*
 * An established packet on the flow's entry in way: follows its state and counts it, returning its real; or, when the
 * entry's real is gone or a bare SYN reuses a closing connection's 5-tuple, uncounts it and hands the way to
 * new_connection() (nc->way), returning NULL. *real_id, *svc_id: the entry's.
 */
static __always_inline struct xlvs_real *CT_(ct_follow)(CT_BUCKET *bucket, int way, struct CT_(new_conn) * nc, const struct xlvs_cfg *cfg, __u32 *real_id,
                                                        __u32 *svc_id)
{
	CT_ENTRY *e = &bucket->e[way & (CT_WAYS - 1)];
	struct xlvs_real *real;
	__u8 flags = nc->tcp_flags, state;

	*real_id = e->val.real_id;
	*svc_id = e->val.svc_id;
	state = e->val.state;
	real = usable_real(real_id, *svc_id);
	/*
	 * A bare SYN on a closing connection is a client reusing the 5-tuple: a new
	 * connection, scheduled afresh (IPVS conn_reuse_mode). On SYN_RECV it is a
	 * retransmission and on ESTABLISHED a stray: both stay where they are.
	 */
	if (real && (flags & (XLVS_TCP_SYN | XLVS_TCP_ACK | XLVS_TCP_RST)) == XLVS_TCP_SYN && (state == XLVS_CS_FIN_WAIT || state == XLVS_CS_CLOSE))
		real = NULL;
	if (!real) {
		/* The way is reused in place for the new connection (or freed if none can be made). */
		unbind_conn(*real_id, state);
		nc->way = way;
		return NULL;
	}
	if (nc->key.proto == IPPROTO_TCP) {
		__u8 next = tcp_next_state(state, flags);

		if (next != state) {
			restate_conn(*real_id, state, next);
			e->val.state = next;
			/* The new state's timeout runs from this packet. */
			e->val.last_seen = now_seconds();
#if CT_SYNC
			if (cfg->sync_emit)
				CT_(sync_emit)(&nc->key, *real_id, *svc_id, next);
#endif
		}
	}
	/*
	 * No clock here: reading it costs more than the rest of this path (~20 ns). The
	 * sweeper reads a changed count as a packet and stamps last_seen itself.
	 */
	e->val.hits++;
	return real;
}

#include "ctsweep.h"

#include "ctresize.h"
