/* SPDX-License-Identifier: GPL-2.0-only */
/* parsing.h: cursor-style header parsers; each returns the next protocol (or header length) and advances the cursor, or -1 if the header does not fit. */
#ifndef XLVS_PARSING_H
#define XLVS_PARSING_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define XLVS_IP_MF      0x2000
#define XLVS_IP_OFFSET  0x1fff
#define XLVS_VLAN_MAX   2  /* tags unwrapped: one 802.1Q tag, or QinQ (an 802.1ad or 802.1Q outer tag, then an 802.1Q one) */
#define XLVS_L3_MAX_OFF 22 /* the furthest an IP header starts: the Ethernet header and XLVS_VLAN_MAX 4-byte tags */
#define XLVS_ICMP_QUOTE 8  /* transport bytes an ICMP error must quote after the embedded IP header (RFC 792): the ports */

struct hdr_cursor {
	void *pos;
	void *l3_end; /* the end of the IP datagram (IP total length): Ethernet padding after it is no header */
};

/* Returns the ethertype in network order (a VLAN tag's type, if tagged: parse_vlans() goes on from there). */
static __always_inline int parse_ethhdr(struct hdr_cursor *nh, void *data_end, struct ethhdr **ethhdr)
{
	struct ethhdr *eth = nh->pos;

	if ((void *)(eth + 1) > data_end)
		return -1;
	nh->pos = eth + 1;
	*ethhdr = eth;
	return eth->h_proto;
}

/* An 802.1Q / 802.1ad tag after the MACs (the kernel's struct vlan_hdr is not UAPI). */
struct xlvs_vlan_hdr {
	__be16 tci;   /* priority, DEI, VLAN id */
	__be16 proto; /* the next ethertype */
};

static __always_inline int proto_is_vlan(int proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/*
 * Returns the ethertype behind up to XLVS_VLAN_MAX VLAN tags, or -1 if a tag does not fit. The tags stay in the
 * frame: a forwarded frame leaves on the VLAN it came in on. A third tag is returned as the ethertype (not IPv4).
 */
static __always_inline int parse_vlans(struct hdr_cursor *nh, void *data_end, int proto)
{
	struct xlvs_vlan_hdr *vh;
	int i;

#pragma unroll
	for (i = 0; i < XLVS_VLAN_MAX; i++) {
		if (!proto_is_vlan(proto))
			break;
		vh = nh->pos;
		if ((void *)(vh + 1) > data_end)
			return -1;
		nh->pos = vh + 1;
		proto = vh->proto;
	}
	return proto;
}

/*
 * Returns the IP protocol. Rejects what the kernel's own ip_rcv would
 * reject (bad version, ihl < 5, total length beyond the frame) so such
 * frames reach the kernel untouched instead of being forwarded.
 */
static __always_inline int parse_iphdr(struct hdr_cursor *nh, void *data_end, struct iphdr **iphdr)
{
	struct iphdr *iph = nh->pos;
	__u32 hdrsize, tot_len;

	if ((void *)(iph + 1) > data_end)
		return -1;
	if (iph->version != 4 || iph->ihl < 5)
		return -1;
	hdrsize = iph->ihl * 4;
	/* verifier: the variable-length header needs its own bound before the cursor moves past it */
	if (nh->pos + hdrsize > data_end)
		return -1;
	tot_len = bpf_ntohs(iph->tot_len);
	/* verifier: 6.1 keeps no bounds across a byte swap; the barrier stops clang dropping the mask that restores them */
	barrier_var(tot_len);
	tot_len &= 0xffff;
	if ((void *)iph + tot_len > data_end || tot_len < hdrsize)
		return -1;
	nh->pos += hdrsize;
	nh->l3_end = (void *)iph + tot_len;
	*iphdr = iph;
	return iph->protocol;
}

/*
 * Returns the next-header field. Rejects what the kernel's ipv6_rcv would (version other than 6, payload length
 * beyond the frame) and a payload length of 0 (a jumbogram: its length is in a hop-by-hop option, left to the kernel).
 */
static __always_inline int parse_ipv6hdr(struct hdr_cursor *nh, void *data_end, struct ipv6hdr **ip6hdr)
{
	struct ipv6hdr *ip6 = nh->pos;
	__u32 plen;

	if ((void *)(ip6 + 1) > data_end)
		return -1;
	if (ip6->version != 6)
		return -1;
	plen = bpf_ntohs(ip6->payload_len);
	/* verifier: 6.1 keeps no bounds across a byte swap; the barrier stops clang dropping the mask that restores them */
	barrier_var(plen);
	plen &= 0xffff;
	if (!plen || (void *)(ip6 + 1) + plen > data_end)
		return -1;
	nh->pos = ip6 + 1;
	nh->l3_end = (void *)(ip6 + 1) + plen;
	*ip6hdr = ip6;
	return ip6->nexthdr;
}

/*
 * Returns the TCP header length. The header and its options must lie within the IP datagram
 * (the kernel's tcp_v4_rcv drops a segment whose data offset runs past it); only the fixed
 * header is read: options are forwarded, never parsed.
 */
static __always_inline int parse_tcphdr(struct hdr_cursor *nh, void *data_end, struct tcphdr **tcphdr)
{
	struct tcphdr *tcp = nh->pos;

	/* verifier: data_end bounds the read; l3_end (never past data_end) is what the datagram holds */
	if ((void *)(tcp + 1) > data_end || (void *)(tcp + 1) > nh->l3_end)
		return -1;
	if (tcp->doff < 5 || (void *)tcp + tcp->doff * 4 > nh->l3_end)
		return -1;
	nh->pos = tcp + 1;
	*tcphdr = tcp;
	return tcp->doff * 4;
}

/* Returns the UDP length field, which must cover the header and fit in the IP datagram (as the kernel's udp_rcv checks). */
static __always_inline int parse_udphdr(struct hdr_cursor *nh, void *data_end, struct udphdr **udphdr)
{
	struct udphdr *udp = nh->pos;
	__u32 len;

	/* verifier: data_end bounds the read; l3_end (never past data_end) is what the datagram holds */
	if ((void *)(udp + 1) > data_end || (void *)(udp + 1) > nh->l3_end)
		return -1;
	len = bpf_ntohs(udp->len);
	/* verifier: 6.1 keeps no bounds across a byte swap; the barrier stops clang dropping the mask that restores them */
	barrier_var(len);
	len &= 0xffff;
	if (len < sizeof(*udp) || (void *)udp + len > nh->l3_end)
		return -1;
	nh->pos = udp + 1;
	*udphdr = udp;
	return len;
}

/* An ICMP header (linux/icmp.h pulls in libc's socket headers, which a BPF target cannot include). */
struct icmphdr {
	__u8 type; /* ICMP_* */
	__u8 code; /* per type: for destination unreachable, 4 is "fragmentation needed" */
	__sum16 checksum;
	__be32 rest; /* per type: for fragmentation needed, the next hop's MTU in the low 16 bits */
};

/* Returns the ICMP type; the 8-byte header must lie within the IP datagram (the kernel's icmp_rcv drops a shorter one). */
static __always_inline int parse_icmphdr(struct hdr_cursor *nh, void *data_end, struct icmphdr **icmphdr)
{
	struct icmphdr *icmp = nh->pos;

	/* verifier: data_end bounds the read; l3_end (never past data_end) is what the datagram holds */
	if ((void *)(icmp + 1) > data_end || (void *)(icmp + 1) > nh->l3_end)
		return -1;
	nh->pos = icmp + 1;
	*icmphdr = icmp;
	return icmp->type;
}

/*
 * An ICMP error's quoted datagram: returns its IP protocol, with *iphdr at its IP header and the cursor at its
 * transport header, or -1 unless the quote holds a valid IPv4 header and XLVS_ICMP_QUOTE bytes after it within the
 * ICMP message. The quoted total length is the original datagram's, longer than the quote: it is not checked.
 */
static __always_inline int parse_icmp_quote(struct hdr_cursor *nh, void *data_end, struct iphdr **iphdr)
{
	struct iphdr *iph = nh->pos;
	__u32 hdrsize;

	if ((void *)(iph + 1) > data_end)
		return -1;
	if (iph->version != 4 || iph->ihl < 5)
		return -1;
	hdrsize = iph->ihl * 4;
	/* verifier: data_end bounds the reads; l3_end (never past data_end) is what the ICMP message holds */
	if (nh->pos + hdrsize + XLVS_ICMP_QUOTE > data_end || nh->pos + hdrsize + XLVS_ICMP_QUOTE > nh->l3_end)
		return -1;
	nh->pos += hdrsize;
	*iphdr = iph;
	return iph->protocol;
}

#endif /* XLVS_PARSING_H */
