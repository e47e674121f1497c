/* SPDX-License-Identifier: GPL-2.0-only */
/* ctresize.h: resizing a growable table (xlvs_ctmove), entries moved to their bucket at the new size; part of conntable.h's per-family template. */

/* A free way of b, claimed for the key whose first word is want (a datapath insert may race for the same way). */
static __always_inline CT_ENTRY *CT_(ctmove_claim)(CT_BUCKET *b, __u64 want)
{
	int w;

#pragma unroll
	for (w = 0; w < CT_WAYS; w++)
		if (!CT_(ct_held)(&b->e[w]) && __sync_val_compare_and_swap((__u64 *)&b->e[w].key, 0, want) == 0)
			return &b->e[w];
	return NULL;
}

/*
 * A moved entry's activity bit goes with it (ORed in, the bucket's other flows keep theirs): the sweep after a resize
 * reads bits at each entry's new bucket, and without the copy it would not see the packets forwarded since the last
 * pass (a SYN_RECV flow promoted a pass late, an established one stamped a pass late).
 */
static __always_inline void CT_(seen_carry)(__u32 from, __u32 to, __u32 h)
{
	__u32 wf = from / XLVS_SEEN_PER_WORD, wt = to / XLVS_SEEN_PER_WORD;
	__u64 *f = bpf_map_lookup_elem(&CT_SEEN_MAP, &wf), *t;
	__u32 bit = seen_bit(h, 1);

	if (!f || !((*f >> ((from % XLVS_SEEN_PER_WORD) * XLVS_SEEN_BITS + bit)) & 1))
		return;
	t = bpf_map_lookup_elem(&CT_SEEN_MAP, &wt);
	if (t)
		__sync_fetch_and_or(t, 1ull << ((to % XLVS_SEEN_PER_WORD) * XLVS_SEEN_BITS + bit));
}

/*
 * One entry of bucket idx: if it is outside its live bucket it is copied there (claimed, value, then the rest of the
 * key, as the datapath inserts) before its old way is freed: a lookup meanwhile finds one of the two, never neither,
 * so no flow is scheduled afresh. A packet that changes the entry's state within the copy's few stores loses that
 * change. Connection counts stay: the connection is the same one. Returns 1 when moved, 2 when its live bucket had
 * no free way. A global function: verified once, not inside the walk's loop (whose unrolled ways it multiplied).
 */
__noinline int CT_(ctmove_entry)(CT_ENTRY *e, __u32 idx, __u32 live, __u32 seed)
{
	CT_KEY key __attribute__((aligned(8)));
	CT_BUCKET *to;
	CT_ENTRY *d;
	__u32 dst, h;
	__u64 was;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!e || !CT_(ct_held)(e))
		return 0;
	__builtin_memcpy(&key, &e->key, sizeof(key));
	h = CT_(seed_hash)(&key, seed);
	dst = h & (live - 1);
	if (dst == idx)
		return 0;
	to = bpf_map_lookup_elem(&CT_MAP, &dst);
	if (!to)
		return 0;
	was = ((__u64 *)&key)[0];
	if (CT_(ct_find)(to, &key) >= 0) {
		/* A racing insert already holds the flow in its live bucket: this older copy goes, uncounted. */
		if (__sync_val_compare_and_swap((__u64 *)&e->key, was, 0) == was) {
			unbind_conn(e->val.real_id, e->val.state);
			__builtin_memset((__u8 *)&e->key + 8, 0, sizeof(e->key) - 8);
		}
		return 0;
	}
	d = CT_(ctmove_claim)(to, was);
	if (!d)
		return 2;
	d->val = e->val;
	CT_(ct_publish)(d, &key);
	if (__sync_val_compare_and_swap((__u64 *)&e->key, was, 0) != was) {
		/* The datapath replaced the entry (or the sweeper expired it) meanwhile: the copy goes too. */
		((__u64 *)&d->key)[0] = 0;
		__builtin_memset((__u8 *)&d->key + 8, 0, sizeof(d->key) - 8);
		return 0;
	}
	__builtin_memset((__u8 *)&e->key + 8, 0, sizeof(e->key) - 8);
	CT_(seen_carry)(idx, dst, h);
	return 1;
}

/* One way per iteration, as the sweeper walks. */
static long CT_(ctmove_way)(__u32 i, struct ctmove_ctx *mc)
{
	CT_BUCKET *b;
	__u32 idx = mc->first + i / CT_WAYS, r;

	b = bpf_map_lookup_elem(&CT_MAP, &idx);
	if (!b)
		return 1; /* past the end of the table */
	r = CT_(ctmove_entry)(&b->e[i & (CT_WAYS - 1)], idx, mc->live, mc->seed);
	/* verifier: counted without a branch on r, which split every iteration's state in two until the jump limit */
	mc->moved += r & 1;
	mc->left += (r >> 1) & 1;
	return 0;
}
