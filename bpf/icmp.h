/* SPDX-License-Identifier: GPL-2.0-only */
/* icmp.h: ICMP errors about a flow (fragmentation needed and the rest) sent where the flow goes, included once by xlvs.bpf.c. */

#define XLVS_ICMP_DEST_UNREACH  3  /* every code: fragmentation needed (4) is the one path MTU discovery needs */
#define XLVS_ICMP_SOURCE_QUENCH 4  /* deprecated (RFC 6633), forwarded as IPVS does */
#define XLVS_ICMP_TIME_EXCEEDED 11 /* TTL or reassembly time exceeded */

/*
 * An ICMP error a router sends to the VIP (IPVS ip_vs_in_icmp: destination unreachable, source quench, time
 * exceeded) quotes the datagram that caused it: the real's reply, VIP to client. It goes to the real that owns that
 * connection, rewritten like any forwarded frame, so the real's TCP learns the path MTU; the connection entry is only
 * read (no state, hits or clock), the service and real count the frame as IPVS does. No entry, or one whose real is
 * gone: the director's kernel gets it. Other ICMP (echo requests) is the kernel's too. key is the caller's
 * connection key, reused for the quoted flow; the ICMPv6 path mirrors this with packet-too-big.
 */
static __always_inline int icmp_error(struct hdr_cursor *nh, void *data_end, struct ethhdr *eth, const struct xlvs_cfg *cfg, struct xlvs_verdicts *vd,
                                      struct xlvs_conn_key *key, __u32 bytes)
{
	struct xlvs_ct_bucket *bucket;
	struct xlvs_ct_entry *e;
	struct xlvs_real *real;
	struct icmphdr *icmp;
	struct iphdr *quote;
	__u32 ports, idx, real_id, svc_id;
	int type, proto, way;

	type = parse_icmphdr(nh, data_end, &icmp);
	if (type < 0) {
		vd->pass_malformed++;
		return XDP_PASS;
	}
	if (type != XLVS_ICMP_DEST_UNREACH && type != XLVS_ICMP_SOURCE_QUENCH && type != XLVS_ICMP_TIME_EXCEEDED) {
		vd->pass_no_service++;
		return XDP_PASS;
	}
	proto = parse_icmp_quote(nh, data_end, &quote);
	if (proto < 0) {
		vd->pass_malformed++;
		return XDP_PASS;
	}
	/* A later fragment quotes no ports (IPVS passes it too); only TCP and UDP have connections. */
	if ((quote->frag_off & bpf_htons(XLVS_IP_OFFSET)) || (proto != IPPROTO_TCP && proto != IPPROTO_UDP)) {
		vd->pass_icmp_no_flow++;
		return XDP_PASS;
	}
	/* The quote runs VIP:port -> client:port; the connection is keyed the client's way round. */
	ports = *(__u32 *)nh->pos;
	key->saddr = quote->daddr;
	key->daddr = quote->saddr;
	key->sport = (__be16)(ports >> 16);
	key->dport = (__be16)ports;
	key->proto = proto;
	ports = (ports >> 16) | (ports << 16);
	way = ct_locate(cfg, key, ports, &idx, &bucket);
	if (way == -2 || !bucket) {
		vd->aborted++;
		return XDP_ABORTED;
	}
	if (way < 0) {
		vd->pass_icmp_no_flow++;
		return XDP_PASS;
	}
	e = &bucket->e[way & (XLVS_CT_WAYS - 1)];
	real_id = e->val.real_id;
	svc_id = e->val.svc_id;
	real = usable_real(&real_id, svc_id);
	if (!real) {
		vd->pass_icmp_no_flow++;
		return XDP_PASS;
	}
	__builtin_memcpy(eth->h_dest, real->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->mac, ETH_ALEN);
	count(&svc_id, &xlvs_st_svc, bytes, 0);
	count(&real_id, &xlvs_st_real, bytes, 0);
	vd->tx_icmp++;
	return XDP_TX;
}
