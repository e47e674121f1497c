/* SPDX-License-Identifier: GPL-2.0-only */
/* bench_memlat.bpf.c: the machine's price of one random memory access, read the way the datapath reads its connection table. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/*
 * Sized by the benchmark to the connection table's bytes (BpfObject.open's mapMaxEntries): an array map is allocated
 * as the table is (vmalloc, 4 KiB pages), so a miss here pays the same TLB walk a miss there does.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bench_memlat_arr SEC(".maps");

/* Key 0: the span walked, in entries, a power of two no larger than the array; key 1: where the walk is; key 2: its step. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u32);
} bench_memlat_ctl SEC(".maps");

/* Loads per run: enough that the run's own overhead is a small part of its time. */
#define MEMLAT_CHAIN 16

/*
 * A chain of dependent loads: each index is a hash of the previous one, of the value it loaded and of the step, so the
 * CPU cannot start a load before the one before it has completed (the values are all zero, but the CPU does not know
 * that). The step keeps the walk from closing into a short cycle that would stay in the caches (iterating one random
 * function over 2^24 entries repeats itself within a few thousand steps). One
 * run's time / MEMLAT_CHAIN is the latency of one access at random within the span, plus the hash (a few ns: the
 * benchmark subtracts a walk of a span that stays in the L1 cache).
 */
SEC("xdp")
int bench_memlat(struct xdp_md *ctx)
{
	__u32 k_span = 0, k_at = 1, k_step = 2, i, idx, mask, step;
	__u32 *span = bpf_map_lookup_elem(&bench_memlat_ctl, &k_span), *at = bpf_map_lookup_elem(&bench_memlat_ctl, &k_at),
	      *stepp = bpf_map_lookup_elem(&bench_memlat_ctl, &k_step);
	__u64 *v;

	/* verifier: array lookups with constant in-range keys still need the NULL check on older kernels */
	if (!span || !at || !stepp || !*span)
		return XDP_ABORTED;
	mask = *span - 1;
	idx = *at & mask;
	step = *stepp;
#pragma unroll
	for (i = 0; i < MEMLAT_CHAIN; i++) {
		v = bpf_map_lookup_elem(&bench_memlat_arr, &idx);
		if (!v)
			return XDP_ABORTED;
		idx ^= (__u32)*v ^ (step + i);
		idx = (idx ^ (idx >> 16)) * 0x7feb352d;
		idx = (idx ^ (idx >> 15)) * 0x846ca68b;
		idx = (idx ^ (idx >> 16)) & mask;
	}
	*at = idx;
	*stepp = step + MEMLAT_CHAIN;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
