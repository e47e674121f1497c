/* xlvs_abi.h: every map key/value, flag and limit shared by the XDP program, the native addon and (via codecs) TypeScript. */
#ifndef XLVS_ABI_H
#define XLVS_ABI_H

#include <linux/types.h>

/*
 * Layout rules: fixed-width types only, every hole filled by an explicit
 * "pad" field that must be zero, sizes a multiple of the largest member.
 * Multi-byte fields marked "network order" are stored exactly as they
 * appear on the wire; everything else is host order.  native/abi.cc
 * static_asserts every size and exports size and field offsets to JS, and
 * test/unit/abi.test.ts checks src/core/abi.ts against them.
 */

/* ---- limits (defaults; map sizes can be changed at load time) ---- */
#define XLVS_MAX_SERVICES     16384u   /* xlvs_svc / xlvs_mh / xlvs_st_svc entries */
#define XLVS_MAX_REALS        65536u   /* xlvs_reals / xlvs_st_real entries (ids are per service-real pair) */
#define XLVS_CONN_DEFAULT_MAX 1048576u /* xlvs_conn entries: tracked flows */
#define XLVS_MH_DEFAULT_SIZE  65537u   /* Maglev table size: a prime */
#define XLVS_REAL_NONE        0xffffffffu /* Maglev bucket with no schedulable real */
#define XLVS_FCACHE_SIZE      4096u    /* xlvs_fcache slots per CPU: a power of two (the index is hash & (size - 1)) */
#define XLVS_MAX_CPUS         1024u    /* bound of the loop that clears a flow from every CPU's xlvs_fcache */
#define XLVS_FCACHE_REFRESH   64u      /* a cached flow re-touches its xlvs_conn entry every this many packets (a power of two) */

/* ---- flags ---- */
#define XLVS_REAL_F_MAC   (1u << 0) /* MAC resolved: existing connections are forwarded */
#define XLVS_REAL_F_SCHED (1u << 1) /* may take new connections: weight > 0 and MAC resolved */

/* Services have no flags yet; the field is reserved so adding one is not an ABI break. */

/* xlvs_svc key: what a frame must be addressed to in order to be load-balanced. */
struct xlvs_svc_key {
	__be32 vip;   /* virtual IPv4 address, network order */
	__be16 port;  /* destination port, network order */
	__u8 proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;     /* zero */
};

/* xlvs_svc value. */
struct xlvs_svc {
	__u32 id;      /* index into xlvs_mh and xlvs_st_svc, < XLVS_MAX_SERVICES */
	__u32 flags;   /* reserved, zero */
	__u32 mh_size; /* number of buckets in this service's Maglev table (prime) */
	__u32 pad;     /* zero */
};

/* xlvs_conn key: the client's 5-tuple as seen on the wire. */
struct xlvs_conn_key {
	__be32 saddr; /* client IPv4, network order */
	__be32 daddr; /* VIP, network order */
	__be16 sport; /* client port, network order */
	__be16 dport; /* service port, network order */
	__u8 proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad[3];  /* zero: the key is hashed as raw bytes */
};

/* xlvs_conn value: where an established connection goes. */
struct xlvs_conn {
	__u32 real_id; /* index into xlvs_reals */
	__u32 svc_id;  /* service the entry was made for; a mismatch means the service was replaced */
};

/*
 * xlvs_fcache value (per-CPU array, indexed by flow hash): a direct-mapped cache of
 * established flows in front of xlvs_conn, so that an established packet costs an
 * inlined array lookup instead of a hash-table lookup. xlvs_conn stays the source of
 * truth: a slot is refilled from it on a miss, and every XLVS_FCACHE_REFRESH hits the
 * flow's xlvs_conn entry is looked up again so the LRU keeps seeing the flow as live.
 */
struct xlvs_fcache_entry {
	struct xlvs_conn_key key; /* the flow this slot holds; all zero = empty (no real flow has protocol 0) */
	__u32 real_id;            /* as in xlvs_conn */
	__u32 svc_id;             /* as in xlvs_conn */
	__u32 hits;               /* packets served from this slot (wraps) */
	__u32 pad;                /* zero */
};

/* xlvs_reals value, indexed by real id. */
struct xlvs_real {
	__u8 mac[6];  /* the real server's MAC: the rewritten destination */
	__u16 flags;  /* XLVS_REAL_F_* */
	__be32 addr;  /* real server IPv4, network order (for status and trace; not used to forward) */
	__u32 svc_id; /* owning service id */
	__u32 weight; /* configured weight 0..65535 (for status; scheduling uses the Maglev table) */
	__u32 pad;    /* zero */
};

/* xlvs_cfg value (single entry, key 0): per-interface settings. */
struct xlvs_cfg {
	__u8 mac[6];  /* the director NIC's MAC: the rewritten source */
	__u8 pad[2];  /* zero */
};

/* xlvs_st_svc / xlvs_st_real value (per-CPU): traffic a service or real received. */
struct xlvs_counters {
	__u64 packets; /* frames forwarded */
	__u64 bytes;   /* IPv4 bytes forwarded (IP total length, as IPVS counts) */
	__u64 conns;   /* connection-table entries created */
};

/* xlvs_verdicts value (per-CPU, single entry): why each frame got its verdict. */
struct xlvs_verdicts {
	__u64 pass_not_ipv4;   /* ARP, IPv6, VLAN-tagged and other ethertypes */
	__u64 pass_malformed;  /* too short for its headers, or an invalid IPv4 header: left to the kernel */
	__u64 pass_fragment;   /* IPv4 fragments: not forwarded (no L4 ports to match in most of them) */
	__u64 pass_no_service; /* IPv4 not addressed to a configured VIP:port/protocol (incl. ICMP) */
	__u64 tx_existing;     /* forwarded on an existing connection-table entry */
	__u64 tx_new;          /* forwarded after scheduling a new connection */
	__u64 drop_no_real;    /* service has no real that can take the connection */
	__u64 aborted;         /* internal error (a map that must exist was missing) */
};

#endif /* XLVS_ABI_H */
