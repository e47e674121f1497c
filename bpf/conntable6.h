/* SPDX-License-Identifier: GPL-2.0-only */
/* conntable6.h: the IPv6 connection-table family, included once by ipv6.h: hashes, service lookups, sync records, activity bits, marks. */

/* ---- the IPv6 connection-table family (conntable.h) ---- */

#define CT_(name)      name##6
#define CT_KEY         struct xlvs_conn6_key
#define CT_ENTRY       struct xlvs_ct6_entry
#define CT_BUCKET      struct xlvs_ct6_bucket
#define CT_WAYS        XLVS_CT6_WAYS
#define CT_KEY_WORDS   5 /* addresses, ports, protocol: bytes 0..39; the rest is padding */
#define CT_MAP         xlvs_conn6
#define CT_BUCKETS(c)  ((c)->ct6_buckets)
#define CT_PERSIST_MAP xlvs_persist6
#define CT_PERSIST_KEY struct xlvs_persist6_key
#define CT_SYNC        1
#define CT_SEEN_MAP    xlvs_seen6

_Static_assert((XLVS_CT6_WAYS & (XLVS_CT6_WAYS - 1)) == 0, "XLVS_CT6_WAYS must be a power of two");
_Static_assert(sizeof(struct xlvs_ct6_entry) == 64, "an IPv6 entry fills one cache line");

/* Where xlvs_conn6's entries lie: grown as xlvs_conn is, or fixed (multiply-shift placement) while xlvs_ctgeo6 is zero. */
static __always_inline struct xlvs_ct_geo ct_geo6(void)
{
	return geo_read(&xlvs_ctgeo6);
}

/*
 * Not inlined: nine words hashed inline were spilled to the caller's stack, and the caller's frame is on the same call
 * chain as new_connection6() and schedule() (512 bytes for all of them on 6.1).
 */
static __noinline __u32 ct_hash6(const struct xlvs_cfg *cfg, const struct xlvs_conn6_key *key, __u32 ports)
{
	return xlvs_flow_hash6((const __u32 *)key->saddr, (const __u32 *)key->daddr, ports, key->proto ^ cfg->ct_seed);
}

static __noinline __u32 flow_hash6(const struct xlvs_conn6_key *key, __u32 ports)
{
	return xlvs_flow_hash6((const __u32 *)key->saddr, (const __u32 *)key->daddr, ports, key->proto);
}

static __always_inline void addr_words6(const struct xlvs_conn6_key *key, __u32 *src, __u32 *dst)
{
	*src = xlvs_addr6_fold((const __u32 *)key->saddr);
	*dst = xlvs_addr6_fold((const __u32 *)key->daddr);
}

static __always_inline struct xlvs_svc *service_for6(const struct xlvs_conn6_key *key)
{
	struct xlvs_svc6_key skey = {.port = key->dport, .proto = key->proto};
	struct xlvs_svc *svc;

	__builtin_memcpy(skey.vip, key->daddr, sizeof(skey.vip));
	svc = bpf_map_lookup_elem(&xlvs_svc6, &skey);
	if (svc)
		return svc;
	skey.port = 0; /* a port-0 service takes every port the exact ones leave */
	return bpf_map_lookup_elem(&xlvs_svc6, &skey);
}

/*
 * service_cached() for IPv6, through this CPU's xlvs_svcc6 (the stateless path's only): a hit costs three compares where
 * the hash map costs a jhash over 20 bytes and a bucket walk. The result points into the slot, valid until this CPU's
 * next service_cached6().
 */
static __always_inline struct xlvs_svc *service_cached6(const struct xlvs_conn6_key *key, __u32 gen)
{
	const __u32 *a = (const __u32 *)key->daddr;
	/* The key's last word as struct xlvs_svc6_key lies in memory: port, proto, pad. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__u32 tail = (__u32)key->dport | (__u32)key->proto << 16;
#else
	__u32 tail = (__u32)key->dport << 16 | (__u32)key->proto << 8;
#endif
	__u32 slot = ((a[0] ^ a[1] ^ a[2] ^ a[3] ^ tail) * 0x9e3779b1u) >> 24;
	struct xlvs_svc6_cache *c;
	struct xlvs_svc *svc;

	_Static_assert(sizeof(struct xlvs_svc6_key) == 20, "the key is two 64-bit words and one 32-bit word");
	c = bpf_map_lookup_elem(&xlvs_svcc6, &slot);
	if (!c || !gen)
		return service_for6(key);
	if (c->gen == gen && ((__u64 *)c->key.vip)[0] == ((const __u64 *)key->daddr)[0] && ((__u64 *)c->key.vip)[1] == ((const __u64 *)key->daddr)[1] &&
	    *(__u32 *)&c->key.port == tail)
		return c->found ? &c->svc : NULL;
	svc = service_for6(key);
	c->found = svc != NULL;
	if (svc)
		__builtin_memcpy(&c->svc, svc, sizeof(c->svc));
	__builtin_memcpy(c->key.vip, key->daddr, sizeof(c->key.vip));
	*(__u32 *)&c->key.port = tail;
	c->gen = gen;
	return svc ? &c->svc : NULL;
}

/* The sweeper's lookup: the plain one. */
static __always_inline struct xlvs_svc *service_lookup6(const struct xlvs_conn6_key *key)
{
	return service_for6(key);
}

/* The client's network: its address with the bits past the service's prefix length cleared (ipvsadm -M 64). */
static __always_inline void persist_key6(struct xlvs_persist6_key *pk, const struct xlvs_svc *svc, const struct xlvs_conn6_key *key)
{
	const __u32 *a = (const __u32 *)key->saddr;
	__u32 *out = (__u32 *)pk->caddr;
	__s32 bits;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		bits = (__s32)svc->persist_plen6 - 32 * i;
		out[i] = bits >= 32 ? a[i] : bits <= 0 ? 0 : a[i] & bpf_htonl(~0u << (32 - bits));
	}
	pk->svc_id = svc->id;
}

/* ---- connection sync: IPv6 records out (struct xlvs_sync_rec6 in xlvs_syncq) ---- */

/* Fills a reserved IPv6 record. Not inlined: its prototype puts struct xlvs_sync_rec6 in the object's BTF (abi.test.ts). */
static __noinline void sync_fill6(struct xlvs_sync_rec6 *r, const struct xlvs_conn6_key *key, __u32 real_id, __u32 svc_id, __u32 state_flags)
{
	struct xlvs_real6 *ra;
	__u32 id = real_id;

	__builtin_memset(&r->head, 0, sizeof(r->head)); /* ring memory is not zeroed; the head's addresses stay 0 */
	r->head.stamp = bpf_ktime_get_ns();
	r->head.key.sport = key->sport;
	r->head.key.dport = key->dport;
	r->head.key.proto = key->proto;
	r->head.real_id = real_id;
	r->head.svc_id = svc_id;
	r->head.state = state_flags;
	r->head.flags = (state_flags >> 8) | XLVS_SYNC_F_INET6;
	__builtin_memcpy(r->saddr, key->saddr, sizeof(r->saddr));
	__builtin_memcpy(r->daddr, key->daddr, sizeof(r->daddr));
	ra = bpf_map_lookup_elem(&xlvs_raddr6, &id);
	if (ra)
		__builtin_memcpy(r->raddr, ra->addr, sizeof(r->raddr));
	else
		__builtin_memset(r->raddr, 0, sizeof(r->raddr));
}

/* sync_emit() for an IPv6 flow or template: the same ring, a longer record. A global function, as sync_emit(). */
__noinline int sync_emit6(const struct xlvs_conn6_key *key, __u32 real_id, __u32 svc_id, __u32 state_flags)
{
	struct xlvs_sync_rec6 *r;
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
	sync_fill6(r, key, real_id, svc_id, state_flags);
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/*
 * Records the template a new IPv6 connection wrote, keyed as IPVS keys one: the client's /persist_plen6 prefix, client
 * port 0, the service's port (0 for a port-0 service). A global function.
 */
__noinline int sync_template6(const struct xlvs_conn6_key *key, __u32 real_id, __u32 svc_id)
{
	struct xlvs_conn6_key tk __attribute__((aligned(8))) = {};
	struct xlvs_persist6_key pk;
	struct xlvs_svc6_key skey = {};
	struct xlvs_svc *svc;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!key)
		return 0;
	__builtin_memcpy(skey.vip, key->daddr, sizeof(skey.vip));
	skey.port = key->dport;
	skey.proto = key->proto;
	svc = bpf_map_lookup_elem(&xlvs_svc6, &skey);
	if (!svc || svc->id != svc_id) {
		skey.port = 0; /* the port-0 service service_for6() fell back to */
		svc = bpf_map_lookup_elem(&xlvs_svc6, &skey);
		if (!svc || svc->id != svc_id)
			return 0;
	}
	persist_key6(&pk, svc, key);
	__builtin_memcpy(tk.saddr, pk.caddr, sizeof(tk.saddr));
	__builtin_memcpy(tk.daddr, key->daddr, sizeof(tk.daddr));
	tk.dport = skey.port;
	tk.proto = key->proto;
	return sync_emit6(&tk, real_id, svc_id, XLVS_CS_NONE | XLVS_SYNC_F_TEMPLATE << 8);
}

/* ct_hash6() from an entry's key and a copy of the seed (the sweeper's, a resize's). */
static __noinline __u32 seed_hash6(const struct xlvs_conn6_key *key, __u32 seed)
{
	return xlvs_flow_hash6((const __u32 *)key->saddr, (const __u32 *)key->daddr, *(const __u32 *)&key->sport, key->proto ^ seed);
}

/* ct_seen() for xlvs_conn6: the same bits per bucket in xlvs_seen6. */
static __always_inline int ct_seen6(const struct xlvs_ct6_entry *e, __u32 idx, const struct sweep_ctx *sc)
{
	__u32 b = idx % sc->buckets6, w = b / XLVS_SEEN_PER_WORD;
	__u64 *v = bpf_map_lookup_elem(&xlvs_seen6, &w);

	if (!v)
		return 0;
	return (*v >> ((b % XLVS_SEEN_PER_WORD) * XLVS_SEEN_BITS + seen_bit(seed_hash6(&e->key, sc->seed), sc->grows6))) & 1;
}

/* ct_seen_clear() for xlvs_conn6. */
static __always_inline void ct_seen_clear6(__u32 idx, const struct sweep_ctx *sc)
{
	__u32 b = idx % sc->buckets6, w = b / XLVS_SEEN_PER_WORD;
	__u64 *v, mask;

	if (idx < sc->last_slice6)
		return;
	v = bpf_map_lookup_elem(&xlvs_seen6, &w);
	mask = (__u64)((1u << XLVS_SEEN_BITS) - 1) << ((b % XLVS_SEEN_PER_WORD) * XLVS_SEEN_BITS);
	if (v && (*v & mask))
		__sync_fetch_and_and(v, ~mask);
}

/* ct_hold_mark() for an IPv6 entry: the hash is taken over the folded addresses, as schedule() takes them. A global function. */
__noinline int ct_hold_mark6(struct xlvs_ct6_entry *e)
{
	struct xlvs_conn6_key k __attribute__((aligned(8)));
	struct xlvs_svc *svc;
	__u32 ports, src, dst;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!e)
		return 0;
	__builtin_memcpy(&k, &e->key, sizeof(k));
	svc = service_lookup6(&k);
	if (!svc || svc->id != e->val.svc_id || !is_hashed(svc->sched))
		return 0;
	ports = *(__u32 *)&k.sport;
	addr_words6(&k, &src, &dst);
	tbl_mark_if_other(svc, src, dst, ports, flow_hash6(&k, ports), e->val.real_id);
	return 0;
}

static __always_inline void ct_hold6(struct xlvs_ct6_entry *e)
{
	ct_hold_mark6(e);
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
