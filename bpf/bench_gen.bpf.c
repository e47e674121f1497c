/* SPDX-License-Identifier: GPL-2.0-only */
/* bench_gen.bpf.c: the benchmark's traffic generator, run with BPF_PROG_TEST_RUN live frames: each run sends the template frame as the next of N flows. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Key 0: number of flows to cycle through; key 1: the sequence (runs so far). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} bench_gen_ctl SEC(".maps");

/*
 * Flow i = client port (i & 0xffff) from address 198.18.(i >> 16).1 (the benchmarking range).
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
	__u32 k_flows = 0, k_seq = 1;
	__u64 *flows, *seq, i;

	if ((void *)(tcp + 1) > data_end)
		return XDP_ABORTED;
	flows = bpf_map_lookup_elem(&bench_gen_ctl, &k_flows);
	seq = bpf_map_lookup_elem(&bench_gen_ctl, &k_seq);
	/* verifier: array lookups with constant in-range keys still need the NULL check on older kernels */
	if (!flows || !seq || !*flows)
		return XDP_ABORTED;
	i = (*seq)++ % *flows; /* one generator process at a time, so no atomics */
	tcp->source = bpf_htons(i & 0xffff);
	iph->saddr = bpf_htonl(0xc6120001 | ((i >> 16) & 0xff) << 8);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
