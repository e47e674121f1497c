/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* xlvs_abi.h: every map key/value, flag and limit shared by the XDP program and (via codecs) TypeScript. */
#ifndef XLVS_ABI_H
#define XLVS_ABI_H

#include <linux/types.h>

/*
 * Layout rules: fixed-width types only, every hole filled by an explicit
 * "pad" field that must be zero, sizes a multiple of the largest member.
 * Multi-byte fields marked "network order" are stored exactly as they
 * appear on the wire; everything else is host order.  src/core/abi.ts
 * mirrors it, and test/unit/abi.test.ts checks the mirror against what the
 * compiler made of it: every struct against the BTF of build/bpf/xlvs.o, map
 * sizes against the object's maps, and every #define against its value here.
 */

/* ---- limits (defaults; map sizes can be changed at load time) ---- */
#define XLVS_MAX_SERVICES      16384u   /* xlvs_svc / xlvs_mh / xlvs_st_svc entries */
#define XLVS_MAX_REALS         131072u  /* xlvs_reals / xlvs_rconn / xlvs_st_real entries (ids are per service-real pair: 10,000 services x 10 reals fit) */
#define XLVS_CONN_DEFAULT_MAX  4194304u /* connection-table entries (xlvs_conn holds them XLVS_CT_WAYS to a bucket): 128 MiB */
#define XLVS_CT_WAYS           8u       /* entries per xlvs_conn bucket: 8 x 32 B = 256 B, four adjacent cache lines */
#define XLVS_CONN6_DEFAULT_MAX 1048576u /* IPv6 connection-table entries (xlvs_conn6, 64 B each): 64 MiB, a quarter of the IPv4 table's entries */
#define XLVS_CT6_WAYS          4u       /* entries per xlvs_conn6 bucket: 4 x 64 B = 256 B, the same four cache lines as an IPv4 bucket */
#define XLVS_IPV6_EXT_MAX      6u       /* IPv6 extension headers walked before the L4 header; a longer chain is passed (xlvs_verdicts.pass_ipv6_ext) */
#define XLVS_NEW_CONN6_BYTES   80u      /* xlvs_scratch6 value: the IPv6 path's per-packet scratch (struct scratch6 in bpf/ipv6.h, internal to the program) */
#define XLVS_MH_DEFAULT_SIZE   65537u   /* Maglev table size: a prime */
#define XLVS_REAL_NONE         0xffffffffu /* Maglev bucket with no schedulable real */
/*
 * A hash table's entry (mh, sh, dh) is a real id and two marks in its top bits, read in one load. An established
 * packet of a service without persistence goes straight to the bucket's owner unless XLVS_TBL_MOVED is set: then a
 * live connection in that bucket may belong to another real, and the connection table decides. XLVS_REAL_NONE has
 * every bit set, so an empty bucket reads as moved and always takes the connection table.
 */
#define XLVS_TBL_MOVED         0x80000000u /* the owner changed (or a flow went to another real) while flows in the bucket may still live */
#define XLVS_TBL_HELD          0x40000000u /* set since the last settle: a live entry in the bucket names another real than the owner */
#define XLVS_TBL_REAL_MASK     0x3fffffffu /* the real id of an entry; XLVS_MAX_REALS fits in it */
#define XLVS_SEEN_BITS         16u         /* xlvs_seen: activity bits per connection-table bucket (an established flow sets one by its hash) */
#define XLVS_SVCC_SLOTS        256u        /* xlvs_svcc: the per-CPU service cache's slots (a power of two) */
#define XLVS_SEEN_PER_WORD     4u          /* xlvs_seen: buckets per 64-bit value */
/* xlvs_tblmark's frame: two __u32, the service id, then one of these. */
#define XLVS_TBLMARK_SETTLE    0u       /* after a full sweep pass: clear MOVED where HELD is not set, then HELD everywhere */
#define XLVS_TBLMARK_ALL       1u       /* mark every bucket MOVED | HELD (tables an older build wrote, without marks) */
#define XLVS_SEQ_MAX_TRIES     32u      /* rr/wrr: sequence entries tried past an unavailable one before giving up */
#define XLVS_FALLBACK_TRIES    32u      /* sh/mh fallback: buckets tried, the first being the flow's own */
#define XLVS_FALLBACK_STRIDE   1000u    /* sh/mh fallback: bucket k is (bucket + k * stride) % size; coprime to every allowed (prime, >= 251) size */
#define XLVS_SWEEP_CHUNK       16384u   /* buckets one run of xlvs_sweep walks (~1 ms): a pass is several runs */
#define XLVS_TBL_MAX           1048576u /* entries of a schedule table (xlvs_tbl inner map), any scheduler */
#define XLVS_ACCEPT_MACS       4u       /* destination MACs besides the NIC's own the director forwards frames for (xlvs_cfg.accept_mac) */
/* XLVS_PERSIST_RATIO: one template per persistent client network, far fewer than connections. */
#define XLVS_PERSIST_RATIO     16u      /* connection-table entries per xlvs_persist entry */
#define XLVS_PERSIST_MIN       1024u    /* xlvs_persist entries however small the connection table */
#define XLVS_SYNCQ_BYTES       4194304u /* xlvs_syncq ring buffer (a power of two of pages): ~87,000 sync records, ~0.9 s at 100,000 a second */
#define XLVS_SYNCIN_MAX        96u      /* xlvs_sync_in entries one xlvs_syncin run takes: 3,072 bytes, inside BPF_PROG_TEST_RUN's one-page XDP frame */
#define XLVS_SYNCIN6_MAX       48u      /* xlvs_sync_in6 entries one xlvs_syncin6 run takes: 3,072 bytes, as XLVS_SYNCIN_MAX */

/* ---- flags ---- */
#define XLVS_REAL_F_MAC   (1u << 0) /* MAC resolved: existing connections are forwarded */
#define XLVS_REAL_F_SCHED (1u << 1) /* may take new connections: weight > 0 and MAC resolved */

#define XLVS_SVC_F_HASH_PORT (1u << 0) /* mh-port / sh-port: the client port is hashed too */
#define XLVS_SVC_F_FALLBACK  (1u << 1) /* mh-fallback / sh-fallback: an unavailable bucket owner hands over to the next */

#define XLVS_CONN_F_PERSIST (1u << 0) /* made for a persistent service: the sweeper keeps its template alive */

#define XLVS_SYNC_F_TEMPLATE (1u << 0) /* xlvs_sync_rec / xlvs_sync_in: a persistence template, not a connection */
#define XLVS_SYNC_F_INET6    (1u << 1) /* xlvs_sync_rec: the head of a struct xlvs_sync_rec6 (an IPv6 flow), so a reader knows its size */

/* What xlvs_syncin did with one xlvs_sync_in entry (its result field). */
#define XLVS_SYNC_R_NONE     0u /* not looked at (the run stopped before it) */
#define XLVS_SYNC_R_INSERTED 1u /* a new connection entry or template */
#define XLVS_SYNC_R_UPDATED  2u /* the key was held: its real and state are now the synced ones (counts moved accordingly) */
#define XLVS_SYNC_R_NO_SVC   3u /* refused: no service for the key, another service id, or a template for a service without persistence */
#define XLVS_SYNC_R_NO_REAL  4u /* refused: the real id is not a member of that service */
#define XLVS_SYNC_R_FULL     5u /* refused: every way of the flow's bucket holds a live connection (a synced copy evicts none) */
#define XLVS_SYNC_R_PER_CPU  6u /* refused: conn_table_per_cpu, where an entry one CPU inserts only that CPU finds */
#define XLVS_SYNC_R_BAD      7u /* refused: a state outside XLVS_CS_SYN_RECV..XLVS_CS_UDP */

/* Schedulers (xlvs_svc.sched); the schedule table's content depends on the kind (see xlvs_tbl in maps.h). */
#define XLVS_SCHED_MH  0u  /* Maglev table, indexed by hash of source [+ port] */
#define XLVS_SCHED_RR  1u  /* sequence: each real with weight > 0 once */
#define XLVS_SCHED_WRR 2u  /* sequence: IPVS's weighted round-robin cycle */
#define XLVS_SCHED_LC  3u  /* member list, least connections */
#define XLVS_SCHED_WLC 4u  /* member list, weighted least connections */
#define XLVS_SCHED_SED 5u  /* member list, shortest expected delay */
#define XLVS_SCHED_NQ  6u  /* member list, never queue */
#define XLVS_SCHED_SH  7u  /* Maglev table, indexed by hash of source [+ port] */
#define XLVS_SCHED_DH  8u  /* Maglev table, indexed by hash of destination */
#define XLVS_SCHED_FO  9u  /* member list, weighted failover */
#define XLVS_SCHED_OVF 10u /* member list, weighted overflow */

/*
 * Connection states as a director that sees only client-to-server packets can know them
 * (the table is in README "Connection states"). Only ESTABLISHED counts as active.
 */
#define XLVS_CS_NONE        0u /* unused slot of xlvs_cfg.timeout */
#define XLVS_CS_SYN_RECV    1u /* a bare SYN seen, no ACK yet */
#define XLVS_CS_ESTABLISHED 2u /* an ACK seen after the SYN (or a flow picked up mid-stream) */
#define XLVS_CS_FIN_WAIT    3u /* the client sent FIN */
#define XLVS_CS_CLOSE       4u /* the client sent RST */
#define XLVS_CS_UDP         5u /* any UDP flow (inactive, as IPVS counts UDP) */
#define XLVS_CS_COUNT       8u /* size of xlvs_cfg.timeout */

/* xlvs_svc key: what a frame must be addressed to in order to be load-balanced. */
struct xlvs_svc_key {
	__be32 vip;  /* virtual IPv4 address, network order */
	__be16 port; /* destination port, network order */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;    /* zero */
};

/* xlvs_svc value. A port-0 service ("all ports") has key port 0 and is looked up after the exact port misses. */
struct xlvs_svc {
	__u32 id;              /* index into xlvs_tbl, xlvs_pos and xlvs_st_svc, < XLVS_MAX_SERVICES */
	__u32 flags;           /* XLVS_SVC_F_* */
	__u32 tbl_size;        /* entries of this service's schedule table in use (Maglev: its prime size) */
	__u8 sched;            /* XLVS_SCHED_* */
	__u8 persist_plen6;    /* IPv6 services (xlvs_svc6): prefix length 1..128 of the client network a template is for (ipvsadm -M 64); 0 for IPv4 */
	__u8 pad[2];           /* zero */
	__u32 persist_timeout; /* seconds a client's template outlives its last packet; 0 = not persistent */
	__be32 persist_mask;   /* IPv4 services: netmask applied to the client address for the template, network order; 0 for IPv6 */
};

/* xlvs_svc6 key: an IPv6 service. Its value is a struct xlvs_svc whose id is drawn from the same space as IPv4 services'. */
struct xlvs_svc6_key {
	__u8 vip[16]; /* virtual IPv6 address, network order */
	__be16 port;  /* destination port, network order */
	__u8 proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;     /* zero */
};

/* A connection's key: the client's 5-tuple as seen on the wire. A free xlvs_ct_entry is all zero: its first 8 bytes (saddr, daddr) decide. */
struct xlvs_conn_key {
	__be32 saddr; /* client IPv4, network order */
	__be32 daddr; /* VIP, network order */
	__be16 sport; /* client port, network order */
	__be16 dport; /* service port, network order */
	__u8 proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad[3];  /* zero: the key is hashed as raw bytes */
};

/* A connection's value: where it goes, and what the director knows of its state. */
struct xlvs_conn {
	__u32 real_id;   /* index into xlvs_reals */
	__u16 svc_id;    /* service the entry was made for; a mismatch means the service was replaced */
	__u8 state;      /* XLVS_CS_*: counted in xlvs_rconn while the entry lives */
	__u8 flags;      /* XLVS_CONN_F_* */
	__u32 last_seen; /* seconds (now_seconds()) when the entry was written or changed state, or the sweep that saw it had packets */
	__u16 hits;      /* packets on the entry (wraps): the established path counts instead of reading the clock */
	__u16 hits_seen; /* hits when the sweeper last looked: a difference means the flow is alive */
};

/* One connection-table entry: 32 bytes, two to a cache line. */
struct xlvs_ct_entry {
	struct xlvs_conn_key key; /* the flow; saddr = daddr = 0: free (no real flow has VIP 0) */
	struct xlvs_conn val;     /* its connection */
};

/*
 * xlvs_conn value (array, indexed by a seeded hash of the 5-tuple): a set-associative
 * connection table. A flow lives in one of its bucket's ways, so a lookup reads one
 * 256-byte bucket (four adjacent cache lines, one memory miss) and a new flow is written
 * in place, with no allocation. When every way is taken, the entry nearest its idle
 * timeout (or furthest past it) is replaced and uncounted. With conn_table_per_cpu the
 * array holds one slice of ct_buckets buckets per CPU and each CPU uses its own.
 */
struct xlvs_ct_bucket {
	struct xlvs_ct_entry e[XLVS_CT_WAYS]; /* the ways; free ones are all zero */
};

/* An IPv6 connection's key: the client's 5-tuple as seen on the wire. Free when its first 8 bytes are zero (no client address the kernel accepts has them so). */
struct xlvs_conn6_key {
	__u8 saddr[16]; /* client IPv6, network order */
	__u8 daddr[16]; /* VIP, network order */
	__be16 sport;   /* client port, network order */
	__be16 dport;   /* service port, network order */
	__u8 proto;     /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad[11];   /* zero: the key is compared as raw 8-byte words, and the entry fills a cache line */
};

/* One IPv6 connection-table entry: 64 bytes, a cache line. */
struct xlvs_ct6_entry {
	struct xlvs_conn6_key key; /* the flow; first 8 bytes zero: free */
	struct xlvs_conn val;      /* its connection, as in xlvs_conn */
};

/* xlvs_conn6 value: the IPv6 connection table, the same set-associative design as xlvs_conn (one slice per CPU with conn_table_per_cpu). */
struct xlvs_ct6_bucket {
	struct xlvs_ct6_entry e[XLVS_CT6_WAYS]; /* the ways; free ones are all zero */
};

/* xlvs_reals value, indexed by real id. */
struct xlvs_real {
	__u8 mac[6];       /* the real server's MAC: the rewritten destination */
	__u16 flags;       /* XLVS_REAL_F_* */
	__be32 addr;       /* real server IPv4, network order (for status and trace; not used to forward); 0 for an IPv6 real (xlvs_raddr6) */
	__u32 svc_id;      /* owning service id */
	__u32 weight;      /* effective weight 0..65535 (slow start ramps it): read by the list schedulers */
	__u32 u_threshold; /* ipvsadm -x: overloaded once active + inactive >= this; 0 = no limit */
	__u32 l_threshold; /* ipvsadm -y: no longer overloaded once active + inactive < this; 0 = below 3/4 of upper */
	__u32 pad;         /* zero */
};

/* xlvs_raddr6 value, indexed by real id: an IPv6 real's address (status, trace and read-back after a restart); all zero for an IPv4 real. */
struct xlvs_real6 {
	__u8 addr[16]; /* real server IPv6, network order; not used to forward */
};

/* xlvs_rconn value (shared, updated with atomic adds on state changes only): a real's tracked connections. */
struct xlvs_real_conns {
	__s64 active;     /* entries in ESTABLISHED */
	__s64 inactive;   /* entries in any other state */
	__u32 overloaded; /* the u_threshold it reached (0: not overloaded) until it falls back under l_threshold;
			     overloaded only while the real's u_threshold is not above it (raising -x lifts it, as in IPVS) */
	__u32 pad;        /* zero */
};

/* xlvs_pos value (shared): where a sequence scheduler (rr, wrr) stands. */
struct xlvs_seq_pos {
	__u64 next; /* position of the next new connection; taken with one atomic fetch-add */
};

/* xlvs_persist key: a persistence template is per (masked client address, service). */
struct xlvs_persist_key {
	__be32 caddr; /* client address & the service's persist_mask, network order */
	__u32 svc_id; /* the service */
};

/* xlvs_persist6 key: an IPv6 persistence template is per (client /persist_plen6 prefix, service); the value is a struct xlvs_persist. */
struct xlvs_persist6_key {
	__u8 caddr[16]; /* client address with the bits past the service's persist_plen6 cleared, network order */
	__u32 svc_id;   /* the service */
};

/* xlvs_persist value. */
struct xlvs_persist {
	__u32 real_id;   /* where this client network's new connections go */
	__u32 svc_id;    /* as in the key (lets the sweeper check the owner without a key decode) */
	__u32 last_seen; /* seconds, as xlvs_conn.last_seen: refreshed by new connections and by the sweeper */
	__u32 timeout;   /* seconds: the service's persist_timeout when the template was written */
};

/* xlvs_sweep value (single entry): what the last run of the xlvs_sweep program found and did. */
struct xlvs_sweep_stats {
	__u64 now;               /* the clock the last run used (seconds) */
	__u64 conns;             /* connection entries the last complete pass left in place (table occupancy) */
	__u64 expired;           /* connection entries removed for idleness, so far */
	__u64 templates;         /* persistence templates seen at the start of the current pass */
	__u64 templates_expired; /* persistence templates removed, so far */
	__u64 runs;              /* complete passes over the table so far */
	__u64 cursor;            /* the bucket the next run starts at; 0: the next run starts a pass */
	__u64 pass_conns;        /* entries left in place so far in the current pass */
	/* Appended: the IPv6 table's share of conns and pass_conns (it grows by its own occupancy). */
	__u64 conns6;      /* IPv6 entries the last complete pass left in place (counted in conns too) */
	__u64 pass_conns6; /* IPv6 entries left in place so far in the current pass */
};

/*
 * xlvs_ctgeo value (single entry): where xlvs_conn's entries lie. A growable table uses the first `live` buckets and a
 * flow's bucket is the low bits of its bucket hash, so a table twice the size sends each bucket's flows to the same
 * bucket or to one past the old end. xlvs_ctmove (XLVS_CTMOVE_*) is the only writer, one 64-bit store for both fields;
 * the datapath reads them in one load.
 */
struct xlvs_ct_geo {
	__u32 live; /* buckets in use, a power of two no larger than xlvs_cfg.ct_buckets; 0: a fixed table (per-CPU slices, or an older build's pins) */
	__u32 prev; /* while entries move to a new size: the size before, whose bucket a lookup tries second; 0 otherwise */
};

/*
 * xlvs_ctmove's frame: two __u32, one of these ops, then its argument.
 * BEGIN: arg is the new live size and the current one becomes prev; refused (returns 1) while prev is set, or for a
 *   size that is not a power of two within ct_buckets.
 * STEP: arg is the first bucket of XLVS_SWEEP_CHUNK to walk; the frame's next two __u32 come back as the entries moved
 *   and the entries left where they were (their live bucket had no free way).
 * END: prev = 0, once a whole walk moved and left nothing. REVERT: swaps live and prev (a shrink that found no room).
 */
#define XLVS_CTMOVE_BEGIN   0u
#define XLVS_CTMOVE_STEP    1u
#define XLVS_CTMOVE_END     2u
#define XLVS_CTMOVE_REVERT  3u
#define XLVS_CTMOVE_F_INET6 0x100u /* ORed into the op: it applies to xlvs_conn6 and xlvs_ctgeo6 */
#define XLVS_CT_MIN_LIVE    32768u /* buckets a growable table starts with and never shrinks below: 262,144 entries, 8 MiB */

/* xlvs_cfg value (single entry, key 0): per-interface settings. */
struct xlvs_cfg {
	__u8 mac[6];                  /* the director NIC's MAC: the rewritten source */
	__u8 pad[2];                  /* zero */
	__u32 timeout[XLVS_CS_COUNT]; /* idle timeout in seconds per XLVS_CS_* state (ipvsadm --set tcp tcpfin udp) */
	__u32 ct_buckets; /* buckets in one slice of xlvs_conn (the whole map unless ct_per_cpu); 0 until the loader writes it: every flow then shares bucket 0 */
	__u32 ct_per_cpu; /* 1: xlvs_conn holds one slice per possible CPU, and each CPU looks up and inserts in its own */
	__u32 ct_seed;    /* random at table creation: keys the bucket hash, so clients cannot aim flows at one bucket */
	__u32 ct_total;   /* buckets in the whole of xlvs_conn (ct_buckets x slices): where the sweeper's pass ends */
	/*
	 * Appended fields: a pinned xlvs_cfg of an older build is a prefix of this one, so an upgrade copies it over.
	 * Other destination MACs frames are forwarded for (keepalived use_vmac: 00:00:5e:00:01:<VRID>); a frame
	 * addressed to any other MAC is someone else's (a flooding switch, a promiscuous NIC) and is passed.
	 * Unused slots repeat mac, so the datapath compares all of them without testing for empty ones.
	 */
	__u8 accept_mac[XLVS_ACCEPT_MACS][6];
	__u32 sync_emit; /* 1: record new and changed IPv4 connections and templates in xlvs_syncq (the sync master); 0 after every load. IPv6 flows as struct xlvs_sync_rec6 */
	/* Appended: the IPv6 connection table (xlvs_conn6), laid out as xlvs_conn (ct_per_cpu and ct_seed apply to both). */
	__u32 ct6_buckets; /* buckets in one slice of xlvs_conn6; 0 until the loader writes it */
	__u32 ct6_total;   /* buckets in the whole of xlvs_conn6: the sweeper's pass walks xlvs_conn, then these */
	/* Appended: the new-connection budget (struct xlvs_nc_budget). */
	__u32 nc_budget; /* new connections a CPU records per second before mh, sh and dh services stop recording theirs; 0: no limit */
	/* Appended: the service cache (struct xlvs_svc_cache). */
	__u32 svc_gen; /* changed (never to 0) after every write to xlvs_svc: xlvs_svcc slots filled under another value are stale; 0: no cache */
};

/*
 * xlvs_svcc value (per-CPU, XLVS_SVCC_SLOTS slots, never pinned): what an IPv4 frame's (VIP, port, protocol) resolved
 * to in xlvs_svc, exact port or port 0, copied, so the forwarding path reads a hot slot instead of hashing into the
 * service map on every packet. A slot is trusted only while its gen is xlvs_cfg.svc_gen; the control plane changes
 * svc_gen after each write to xlvs_svc, so a copy never outlives the value it was taken from by more than that write.
 */
struct xlvs_svc_cache {
	struct xlvs_svc_key key; /* the frame's service key (exact port), as looked up */
	__u32 gen;               /* xlvs_cfg.svc_gen when the slot was filled; 0: empty */
	__u32 found;             /* 1: svc is the service the key resolves to; 0: no service takes the key */
	struct xlvs_svc svc;     /* the service's value when found */
};

/*
 * xlvs_svcc6 value (per-CPU, XLVS_SVCC_SLOTS slots, never pinned): xlvs_svc_cache for an IPv6 frame's (VIP, port,
 * protocol), resolved in xlvs_svc6, trusted under the same xlvs_cfg.svc_gen (one generation for both service maps).
 */
struct xlvs_svc6_cache {
	struct xlvs_svc6_key key; /* the frame's service key (exact port), as looked up */
	__u32 gen;                /* xlvs_cfg.svc_gen when the slot was filled; 0: empty */
	__u32 found;              /* 1: svc is the service the key resolves to; 0: no service takes the key */
	struct xlvs_svc svc;      /* the service's value when found */
	__u32 pad;                /* zero: the value is a whole number of 8-byte words */
};

/*
 * xlvs_ncb value (per-CPU, single entry, never pinned): the new connections this CPU scheduled in the current second.
 * Past xlvs_cfg.nc_budget, flows of consistent-hash services (mh, sh, dh) are forwarded unrecorded: their hash places
 * them again on every packet, so a flood of new flows cannot evict the table's live ones.
 */
struct xlvs_nc_budget {
	__u32 second; /* the now_seconds() the count is of */
	__u32 count;  /* new connections scheduled in that second (of every scheduler) */
};

/* xlvs_st_svc / xlvs_st_real value (per-CPU): traffic a service or real received. */
struct xlvs_counters {
	__u64 packets; /* frames forwarded */
	__u64 bytes;   /* bytes forwarded: IPv4 total length, IPv6 payload length + 40 (the IP datagram, as IPVS counts) */
	__u64 conns;   /* connections scheduled (new connection-table entries) */
	__u64 drops;   /* new connections dropped: no real could take them (all down, weight 0 or overloaded) */
};

/* xlvs_verdicts value (per-CPU, single entry): why each frame got its verdict. */
struct xlvs_verdicts {
	__u64 pass_not_ipv4;   /* neither IPv4 nor IPv6 (behind up to two VLAN tags): ARP and other ethertypes, three or more tags */
	__u64 pass_malformed;  /* too short for its headers (VLAN tags included), an invalid IPv4 or IPv6 header, an ICMP error's bad quote */
	__u64 pass_fragment;   /* IPv4 fragments, first or later: not forwarded (later ones carry no ports; the datapath cannot reassemble) */
	__u64 pass_no_service; /* not addressed to a configured VIP:port/protocol, ICMP and ICMPv6 other than errors (NDP, echo: the kernel answers) */
	__u64 tx_existing;     /* forwarded on an existing connection-table entry */
	__u64 tx_new;          /* forwarded after scheduling a new connection */
	__u64 drop_no_real;    /* service has no real that can take the connection */
	__u64 aborted;         /* internal error (a map that must exist was missing) */
	__u64 ct_evicted;      /* not a verdict: live connection entries replaced because their bucket was full */
	__u64 ct_untracked;    /* not a verdict: new connections forwarded but not recorded (mh/sh/dh: bucket all live; or a claim lost twice) */
	/* Appended (after the connection-table events, so an older pinned map is a prefix of this one): */
	__u64 pass_not_for_us; /* IPv4 or IPv6 frames addressed to another host's MAC (a flooding switch, a promiscuous NIC): never forwarded */
	__u64 sync_lost;       /* not a verdict: sync records dropped because xlvs_syncq was full (the frame was forwarded all the same) */
	/* Appended: IPv6. Forwarded IPv6 flows count in tx_existing and tx_new, like IPv4 ones. */
	__u64 pass_ipv6_ext;      /* IPv6 with more than XLVS_IPV6_EXT_MAX extension headers, or one the walk cannot read: left to the kernel */
	__u64 pass_fragment6;     /* IPv6 fragments, first or later: not forwarded (later ones carry no ports; the datapath cannot reassemble) */
	__u64 tx_icmp6;           /* ICMPv6 packet-too-big or destination-unreachable quoting a tracked flow: forwarded unchanged to that flow's real */
	__u64 pass_icmp6_no_flow; /* ICMPv6 error to a VIP quoting no flow the table holds (or whose real is gone), or not TCP/UDP: left to the kernel */
	/* Appended: ICMPv4 errors (destination unreachable, fragmentation needed among them; source quench; time exceeded). */
	__u64 tx_icmp;           /* forwarded to the real of the connection its quote belongs to (IPVS ip_vs_in_icmp): path MTU discovery works */
	__u64 pass_icmp_no_flow; /* its quote is of no connection the table holds (or one whose real is gone), not TCP/UDP, or a later fragment */
	/* Appended: the new-connection budget. */
	__u64 ct_over_budget; /* not a verdict: new flows of mh, sh and dh services forwarded but not recorded: this CPU's budget (xlvs_cfg.nc_budget) was spent */
	/* Appended: established packets without a connection-table access. */
	__u64 tx_stateless; /* established TCP packets of an mh, sh or dh service without persistence, forwarded to the owner of an unmoved bucket */
	/* Appended: the IPv6 share of tx_new, so each connection table grows by its own family's new connections. */
	__u64 tx_new6; /* not a verdict: IPv6 new connections, counted in tx_new too */
};

/*
 * xlvs_syncq record (ring buffer, sync_emit on): a connection entry inserted or changing state, or a persistence
 * template written (scheduled afresh or re-pointed). User space reads them for the sync protocol (IPVS sync v1).
 */
struct xlvs_sync_rec {
	__u64 stamp;              /* bpf_ktime_get_ns() when recorded (CLOCK_MONOTONIC): user space measures the lag from it */
	struct xlvs_conn_key key; /* the flow; a template: saddr = client & persist_mask, sport 0, dport the service's port (0: port-0 service) */
	__u32 real_id;            /* the real it goes to (this director's id) */
	__be32 raddr;             /* that real's IPv4 (xlvs_reals.addr), network order: ids differ between directors */
	__u32 svc_id;             /* the service (this director's id) */
	__u8 state;               /* XLVS_CS_*; XLVS_CS_NONE for a template */
	__u8 flags;               /* XLVS_SYNC_F_* */
	__u8 pad[2];              /* zero */
};

/*
 * One entry of the frame xlvs_syncin is run on (BPF_PROG_TEST_RUN, up to XLVS_SYNCIN_MAX of them): a connection or
 * template a peer synced, with this director's ids. The program writes result; the rest comes back unchanged.
 */
struct xlvs_sync_in {
	struct xlvs_conn_key key; /* the flow, as in xlvs_sync_rec (a template: saddr = masked client, sport 0) */
	__u32 svc_id;             /* this director's service id: must be the service the key looks up */
	__u32 real_id;            /* this director's real id: must be a member of that service */
	__u8 state;               /* XLVS_CS_* of a connection (ignored for a template) */
	__u8 flags;               /* XLVS_SYNC_F_* */
	__u8 result;              /* out: XLVS_SYNC_R_* */
	__u8 pad[5];              /* zero */
};

/*
 * xlvs_syncq record of an IPv6 flow: a struct xlvs_sync_rec head whose flags carry XLVS_SYNC_F_INET6 (its key's
 * addresses and raddr zero; ports, protocol, ids, state as for IPv4), then the addresses. One ring holds both kinds in
 * the order they happened; the head's flags, at the same offset in both, give each record's size.
 */
struct xlvs_sync_rec6 {
	struct xlvs_sync_rec head; /* stamp, ports, protocol, ids, state, flags (XLVS_SYNC_F_INET6 set); addresses zero */
	__u8 saddr[16];            /* client IPv6 (a template: the client's /persist_plen6 prefix), network order */
	__u8 daddr[16];            /* VIP, network order */
	__u8 raddr[16];            /* the real's IPv6 (xlvs_raddr6), network order */
};

/* One entry of the frame xlvs_syncin6 is run on (up to XLVS_SYNCIN6_MAX): xlvs_sync_in for an IPv6 flow. */
struct xlvs_sync_in6 {
	struct xlvs_conn6_key key; /* the flow (a template: saddr = the client's prefix, sport 0) */
	__u32 svc_id;              /* this director's service id: must be the service the key looks up */
	__u32 real_id;             /* this director's real id: must be a member of that service */
	__u8 state;                /* XLVS_CS_* of a connection (ignored for a template) */
	__u8 flags;                /* XLVS_SYNC_F_* */
	__u8 result;               /* out: XLVS_SYNC_R_* */
	__u8 pad[5];               /* zero */
};

#endif /* XLVS_ABI_H */
