/* SPDX-License-Identifier: GPL-2.0-only */
/* syncin.h: connection sync entries in (xlvs_syncin, xlvs_syncin6), included once by xlvs.bpf.c: what a sync backup writes into its tables. */

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
