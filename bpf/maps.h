/* SPDX-License-Identifier: GPL-2.0-only */
/* maps.h: every map of the datapath and of its control-plane programs, included once by xlvs.bpf.c; sizes are defaults the loader may change before load. */

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
