/* xlvs.bpf.c: the LVS-DR datapath: match VIP:port, keep each connection on its real, rewrite only the Ethernet header, XDP_TX. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xlvs_abi.h"
#include "xlvs_hash.h"
#include "parsing.h"

/* ---- maps (sizes are defaults: the loader may resize before load) ---- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLVS_MAX_SERVICES);
	__type(key, struct xlvs_svc_key);
	__type(value, struct xlvs_svc);
} xlvs_svc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLVS_CONN_DEFAULT_MAX);
	__type(key, struct xlvs_conn_key);
	__type(value, struct xlvs_conn);
} xlvs_conn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLVS_FCACHE_SIZE);
	__type(key, __u32);
	__type(value, struct xlvs_fcache_entry);
} xlvs_fcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xlvs_real);
} xlvs_reals SEC(".maps");

/* One Maglev table per service, swapped in whole by a single outer-map update. */
struct xlvs_mh_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MH_DEFAULT_SIZE);
	/* INNER_MAP: tables of other prime sizes are accepted too; MMAPABLE: the control plane fills a table with one memcpy */
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XLVS_MAX_SERVICES);
	__type(key, __u32);
	__array(values, struct xlvs_mh_table);
} xlvs_mh SEC(".maps");

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

#ifdef XLVS_BENCH_FRESH_FLOWS
/*
 * Benchmark build only (build/bpf/xlvs_bench_fresh.o): BPF_PROG_TEST_RUN repeats one
 * frame, so a sequence folded into the client address makes each repetition another
 * flow: a new one every time (key 1 = 0), or the next of N cycling flows (key 1 = N), which
 * after the first N runs times established flows spread over the tables. Shared, not
 * per-CPU: successive runs may land on different CPUs and must still follow one sequence.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} xlvs_bench_seq SEC(".maps");
#endif

/* ---- helpers ---- */

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

/* verifier: both keys are 8-byte aligned (stack variable and map value), so two u64 compares cover all 16 bytes */
static __always_inline int conn_key_eq(const struct xlvs_conn_key *a, const struct xlvs_conn_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1];
}

/* The flow's real, if it is still a member of the flow's service with a MAC to send to. */
static __always_inline struct xlvs_real *usable_real(__u32 *real_id, __u32 svc_id)
{
	struct xlvs_real *real = bpf_map_lookup_elem(&xlvs_reals, real_id);

	if (real && (!(real->flags & XLVS_REAL_F_MAC) || real->svc_id != svc_id))
		return NULL;
	return real;
}

/*
 * A bare SYN rewrites its 5-tuple's connection entry, so another CPU's flow cache may still
 * map the tuple to the previous connection's real and would send this connection's next
 * packets there. Forget the tuple on every CPU; SYNs are the slow path anyway.
 */
static __always_inline void fcache_forget(__u32 slot, const struct xlvs_conn_key *key)
{
	struct xlvs_fcache_entry *e;
	__u32 cpu;

	/* verifier: a constant bound; the helper returns NULL past the last possible CPU */
	for (cpu = 0; cpu < XLVS_MAX_CPUS; cpu++) {
		e = bpf_map_lookup_percpu_elem(&xlvs_fcache, &slot, cpu);
		if (!e)
			break;
		if (conn_key_eq(&e->key, key))
			e->key.proto = 0; /* no real flow has protocol 0: the slot no longer matches anything */
	}
}

/* Picks a real for a flow with no usable entry and records it; NULL when the service has nobody to take it. */
static __always_inline struct xlvs_real *schedule(const struct xlvs_svc *svc, const struct xlvs_conn_key *key,
						  __u32 hash, __u32 *real_id)
{
	struct xlvs_conn conn = {};
	struct xlvs_real *real;
	__u32 bucket, *slot;
	void *table;

	table = bpf_map_lookup_elem(&xlvs_mh, &svc->id);
	if (!table || !svc->mh_size)
		return NULL;
	bucket = hash % svc->mh_size;
	slot = bpf_map_lookup_elem(table, &bucket);
	if (!slot || *slot == XLVS_REAL_NONE)
		return NULL;
	*real_id = *slot;
	real = bpf_map_lookup_elem(&xlvs_reals, real_id);
	/* The control plane clears F_SCHED before it rebuilds the table, so a stale bucket never sends new work to a drained or MAC-less real. */
	if (!real || !(real->flags & XLVS_REAL_F_SCHED))
		return NULL;
	conn.real_id = *real_id;
	conn.svc_id = svc->id;
	bpf_map_update_elem(&xlvs_conn, key, &conn, BPF_ANY);
	return real;
}

/* ---- program ---- */

SEC("xdp")
int xlvs_xdp(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct hdr_cursor nh = { .pos = (void *)(long)ctx->data };
	struct xlvs_conn_key key __attribute__((aligned(8))) = {};
	struct xlvs_fcache_entry *fc;
	struct xlvs_svc_key skey = {};
	struct xlvs_verdicts *vd;
	struct xlvs_real *real = NULL;
	struct xlvs_conn *conn;
	struct xlvs_svc *svc;
	struct xlvs_cfg *cfg;
	struct ethhdr *eth;
	struct iphdr *iph;
	struct tcphdr *tcp;
	struct udphdr *udp;
	__u32 zero = 0, real_id = 0, svc_id = 0, ports, bytes, hash, slot;
	int proto, new_conn = 0, syn = 0;

	vd = bpf_map_lookup_elem(&xlvs_verdicts, &zero);
	/* verifier: the single-entry per-CPU array always exists, but the lookup may return NULL */
	if (!vd)
		return XDP_ABORTED;

	proto = parse_ethhdr(&nh, data_end, &eth);
	if (proto < 0) {
		vd->pass_malformed++;
		return XDP_PASS;
	}
	if (proto != bpf_htons(ETH_P_IP)) {
		vd->pass_not_ipv4++;
		return XDP_PASS;
	}
	proto = parse_iphdr(&nh, data_end, &iph);
	if (proto < 0) {
		vd->pass_malformed++;
		return XDP_PASS;
	}
	if (iph->frag_off & bpf_htons(XLVS_IP_MF | XLVS_IP_OFFSET)) {
		vd->pass_fragment++;
		return XDP_PASS;
	}
	if (proto == IPPROTO_TCP) {
		if (parse_tcphdr(&nh, data_end, &tcp) < 0) {
			vd->pass_malformed++;
			return XDP_PASS;
		}
		ports = *(__u32 *)&tcp->source;
		syn = tcp->syn && !tcp->ack;
	} else if (proto == IPPROTO_UDP) {
		if (parse_udphdr(&nh, data_end, &udp) < 0) {
			vd->pass_malformed++;
			return XDP_PASS;
		}
		ports = *(__u32 *)&udp->source;
	} else {
		vd->pass_no_service++;
		return XDP_PASS;
	}

	key.saddr = iph->saddr;
#ifdef XLVS_BENCH_FRESH_FLOWS
	{
		__u32 one = 1, *seq = bpf_map_lookup_elem(&xlvs_bench_seq, &zero), *cycle = bpf_map_lookup_elem(&xlvs_bench_seq, &one);

		if (seq && cycle) {
			++*seq;
			key.saddr ^= bpf_htonl(*cycle ? *seq % *cycle + 1 : *seq);
		}
	}
#endif
	key.daddr = iph->daddr;
	key.sport = (__be16)ports;
	key.dport = (__be16)(ports >> 16); /* the second half of the port pair as it lies in memory */
	key.proto = proto;

	/*
	 * Established flows first: the per-CPU flow cache, then the connection table, and only
	 * then the service lookup. An entry is trusted only while its real still has a MAC and
	 * still belongs to the entry's service: the control plane clears the reals of a removed
	 * service, so that service's flows fall through to the service lookup and are passed.
	 *
	 * A bare SYN skips both: it always opens a new connection, also when a client reuses an
	 * old connection's 5-tuple, so it is scheduled afresh and counted, as IPVS does for a SYN
	 * on a reused connection. With an unchanged table Maglev picks the same real again; a
	 * real that takes no new connections (weight 0, failed health check) is left alone.
	 */
	hash = xlvs_flow_hash(key.saddr, key.daddr, ports, proto);
	slot = hash & (XLVS_FCACHE_SIZE - 1);
	fc = bpf_map_lookup_elem(&xlvs_fcache, &slot);
	/* verifier: the index is masked into range, but per-CPU array lookups may still return NULL */
	if (!fc) {
		vd->aborted++;
		return XDP_ABORTED;
	}
	if (!syn && conn_key_eq(&fc->key, &key)) {
		real_id = fc->real_id;
		svc_id = fc->svc_id;
		real = usable_real(&real_id, svc_id);
		/* Keep the LRU's view of the flow fresh, and restore the entry if it was evicted meanwhile. */
		if (real && (++fc->hits & (XLVS_FCACHE_REFRESH - 1)) == 0 && !bpf_map_lookup_elem(&xlvs_conn, &key)) {
			struct xlvs_conn again = { .real_id = real_id, .svc_id = svc_id };

			bpf_map_update_elem(&xlvs_conn, &key, &again, BPF_ANY);
		}
	}
	if (!real) {
		conn = syn ? NULL : bpf_map_lookup_elem(&xlvs_conn, &key);
		if (conn) {
			real_id = conn->real_id;
			svc_id = conn->svc_id;
			real = usable_real(&real_id, svc_id);
		}
		if (!real) {
			skey.vip = key.daddr;
			skey.port = key.dport;
			skey.proto = proto;
			svc = bpf_map_lookup_elem(&xlvs_svc, &skey);
			if (!svc) {
				vd->pass_no_service++;
				return XDP_PASS;
			}
			real = schedule(svc, &key, hash, &real_id);
			if (!real) {
				vd->drop_no_real++;
				return XDP_DROP;
			}
			if (syn)
				fcache_forget(slot, &key);
			svc_id = svc->id;
			new_conn = 1;
		}
		fc->key = key;
		fc->real_id = real_id;
		fc->svc_id = svc_id;
		fc->hits = 0;
	}

	cfg = bpf_map_lookup_elem(&xlvs_cfg, &zero);
	if (!cfg) {
		vd->aborted++;
		return XDP_ABORTED;
	}
	__builtin_memcpy(eth->h_dest, real->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->mac, ETH_ALEN);

	bytes = bpf_ntohs(iph->tot_len);
	count(&svc_id, &xlvs_st_svc, bytes, new_conn);
	count(&real_id, &xlvs_st_real, bytes, new_conn);
	if (new_conn)
		vd->tx_new++;
	else
		vd->tx_existing++;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
