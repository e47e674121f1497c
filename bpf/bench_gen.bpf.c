/* SPDX-License-Identifier: GPL-2.0-only */
/* bench_gen.bpf.c: the benchmark's traffic generator (BPF_PROG_TEST_RUN live frames): the template frame as the next of N flows, or a new one. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/*
 * Key 0: number of flows to cycle through (0: every frame a new flow); key 1: the sequence (runs so far, user space
 * may start it anywhere); keys 2 and 3: the destination and source MACs (first 6 bytes of the value).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} bench_gen_ctl SEC(".maps");

/*
 * Flow i of N = client port (i & 0xffff) from address 198.18.(i >> 16).1 (the benchmarking range). With N = 0,
 * frame s is client port (s & 0xffff) from 198.19.(s >> 24).(s >> 16): 2^32 flows none of the cycling ones, so a
 * director sees every frame as a new connection as long as user space starts each run past the last one's sequence.
 * Checksums are left stale on purpose: no hop on the benchmark path verifies them, and
 * recomputing them would make the generator, not the director, the bottleneck.
 */
SEC("xdp")
int bench_gen(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(iph + 1);
	__u32 k_flows = 0, k_seq = 1, k_dst = 2, k_src = 3;
	__u64 *flows, *seq, *dst, *src, i;

	if ((void *)(tcp + 1) > data_end)
		return XDP_ABORTED;
	flows = bpf_map_lookup_elem(&bench_gen_ctl, &k_flows);
	seq = bpf_map_lookup_elem(&bench_gen_ctl, &k_seq);
	/* verifier: array lookups with constant in-range keys still need the NULL check on older kernels */
	dst = bpf_map_lookup_elem(&bench_gen_ctl, &k_dst);
	src = bpf_map_lookup_elem(&bench_gen_ctl, &k_src);
	if (!flows || !seq || !dst || !src)
		return XDP_ABORTED;
	/*
	 * Live frames recycle their pages through the page pool without restoring the template, and a director's XDP_TX
	 * hands its rewritten frame (addressed to a real) back to this pool: every header field the director may change
	 * is written afresh, or the next frame on that page would not be addressed to the director.
	 */
	__builtin_memcpy(eth->h_dest, dst, ETH_ALEN);
	__builtin_memcpy(eth->h_source, src, ETH_ALEN);
	i = (*seq)++; /* one generator process at a time, so no atomics */
	if (!*flows) {
		tcp->source = bpf_htons(i & 0xffff);
		iph->saddr = bpf_htonl(0xc6130000 | ((i >> 16) & 0xffff));
		return XDP_TX;
	}
	i %= *flows;
	tcp->source = bpf_htons(i & 0xffff);
	iph->saddr = bpf_htonl(0xc6120001 | ((i >> 16) & 0xff) << 8);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
