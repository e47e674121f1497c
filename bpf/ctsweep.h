/* SPDX-License-Identifier: GPL-2.0-only */
/* ctsweep.h: the sweeper's pass over one way (idle timeouts, activity, persistence templates kept alive); part of conntable.h's per-family template. */

/*
 * A live connection keeps its client's template alive: the template outlives the last packet by
 * its timeout. A global function: verified once on its own, not once per path of the sweeper.
 */
__noinline int CT_(persist_keepalive)(CT_ENTRY *e)
{
	CT_KEY k __attribute__((aligned(8)));
	CT_PERSIST_KEY pk = {};
	struct xlvs_persist *t;
	struct xlvs_svc *svc;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!e)
		return 0;
	__builtin_memcpy(&k, &e->key, sizeof(k));
	svc = CT_(service_lookup)(&k);
	if (!svc || !svc->persist_timeout)
		return 0;
	CT_(persist_key)(&pk, svc, &k);
	t = bpf_map_lookup_elem(&CT_PERSIST_MAP, &pk);
	if (t && t->real_id == e->val.real_id && (__s32)(e->val.last_seen - t->last_seen) > 0)
		t->last_seen = e->val.last_seen;
	return 0;
}

/*
 * One way of one bucket per bpf_loop iteration, not one bucket with a loop over its ways: the
 * verifier walks a callback as a loop body until its states converge (since 6.8, and in stable
 * kernels that took that fix), and a ways loop inside it multiplied each way's paths (held,
 * live, persistent, expired, lost the claim) into a million instructions on 6.18.44. A
 * callback this size converges in a few passes whatever the kernel. The bucket lookup per
 * way is an inlined array index.
 */
static long CT_(sweep_way)(__u32 i, struct sweep_ctx *sc)
{
	CT_BUCKET *b;
	CT_ENTRY *e;
	__u32 idx = sc->first + i / CT_WAYS;
	__u64 was;
	int seen;

	b = bpf_map_lookup_elem(&CT_MAP, &idx);
	if (!b)
		return 1; /* past the end of the table */
	e = &b->e[i & (CT_WAYS - 1)];
	if (!CT_(ct_held)(e))
		goto out;
	seen = CT_(ct_seen)(e, idx, sc);
	if (e->val.hits != e->val.hits_seen || seen) {
		/* Packets since the last sweep: the datapath counts them (or sets the entry's xlvs_seen bit) instead of reading the clock. */
		e->val.hits_seen = e->val.hits;
		e->val.last_seen = sc->now;
		/* The stateless path forwarded packets without following the state: a handshake's ACK among them (IPVS: SYN_RECV -> ESTABLISHED). */
		if (seen && e->val.state == XLVS_CS_SYN_RECV) {
			restate_conn(e->val.real_id, XLVS_CS_SYN_RECV, XLVS_CS_ESTABLISHED);
			e->val.state = XLVS_CS_ESTABLISHED;
		}
	}
	if (CT_(ct_overdue)(e, sc->timeout, sc->now) < 0) {
		sc->conns++;
		if (e->val.flags & XLVS_CONN_F_PERSIST)
			CT_(persist_keepalive)(e);
		CT_(ct_hold)(e);
		goto out;
	}
	/* Claimed like a datapath insert, so an entry a CPU is replacing at this moment is not uncounted twice. */
	was = ((__u64 *)&e->key)[0];
	if (__sync_val_compare_and_swap((__u64 *)&e->key, was, 0) == was) {
		unbind_conn(e->val.real_id, e->val.state);
		__builtin_memset((__u8 *)&e->key + 8, 0, sizeof(e->key) - 8);
		sc->expired++;
	}
out:
	/* After the bucket's last way (in the last slice: the bits are shared by the slices), its activity bits start afresh. */
	if ((i & (CT_WAYS - 1)) == CT_WAYS - 1)
		CT_(ct_seen_clear)(idx, sc);
	return 0;
}
