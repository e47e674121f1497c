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

#define XLVS_IP_MF     0x2000
#define XLVS_IP_OFFSET 0x1fff

struct hdr_cursor {
	void *pos;
	void *l3_end; /* the end of the IP datagram (IP total length): Ethernet padding after it is no header */
};

/* Returns the ethertype in network order. VLAN tags are not unwrapped: xlvs serves the untagged interface it is attached to. */
static __always_inline int parse_ethhdr(struct hdr_cursor *nh, void *data_end, struct ethhdr **ethhdr)
{
	struct ethhdr *eth = nh->pos;

	if ((void *)(eth + 1) > data_end)
		return -1;
	nh->pos = eth + 1;
	*ethhdr = eth;
	return eth->h_proto;
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

#endif /* XLVS_PARSING_H */
