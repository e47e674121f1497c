/* SPDX-License-Identifier: GPL-2.0-only */
/* sched.h: the schedulers, included once by xlvs.bpf.c: each returns a real that may take a new connection, or XLVS_REAL_NONE. */

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
