/* SPDX-License-Identifier: GPL-2.0-only */
/* bench_macswap.bpf.c: the baseline for benchmarks: the least an XDP_TX forwarder can do (bounds check, swap MACs, transmit). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#ifdef XLVS_BENCH_FRESH_FLOWS
#include <bpf/bpf_endian.h>
#include "bench_flow.h"
#endif

SEC("xdp")
int bench_macswap(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = (void *)(long)ctx->data;
	unsigned char tmp[ETH_ALEN];

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
#ifdef XLVS_BENCH_FRESH_FLOWS
	/*
	 * The floor of the fresh-flow rows (build/bpf/bench_macswap_fresh.o): the same generator the datapath's fresh-flow
	 * build runs, its value folded into the frame as the datapath folds it into its key, so the difference is the
	 * datapath's own work.
	 */
	*(__u32 *)&eth->h_source[2] ^= bench_flow();
#endif
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
