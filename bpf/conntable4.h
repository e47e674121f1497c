/* SPDX-License-Identifier: GPL-2.0-only */
/* conntable4.h: the IPv4 connection-table family (xlvs_conn), included once by xlvs.bpf.c: hashes, service lookups, activity bits. */

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
