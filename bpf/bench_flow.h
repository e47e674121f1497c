/* SPDX-License-Identifier: GPL-2.0-only */
/* bench_flow.h: the benchmark builds' flow sequence, one copy for the datapath and for the MAC-swap floor that runs the same generator. */
#ifndef XLVS_BENCH_FLOW_H
#define XLVS_BENCH_FLOW_H

/*
 * Benchmark builds only (build/bpf/xlvs_bench_fresh.o, bench_macswap_fresh.o): BPF_PROG_TEST_RUN repeats one
 * frame, so a sequence folded into the client address makes each repetition another
 * flow: a new one every time (key 1 = 0), or the next of N cycling flows (key 1 = N), which
 * after the first N runs times established flows spread over the tables. Shared, not
 * per-CPU: successive runs may land on different CPUs and must still follow one sequence.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} xlvs_bench_seq SEC(".maps");

/* What the benchmark build folds into the client address: the next new flow, or the next of N cycling ones. */
static __always_inline __u32 bench_flow(void)
{
	__u32 zero = 0, one = 1, *seq = bpf_map_lookup_elem(&xlvs_bench_seq, &zero), *cycle = bpf_map_lookup_elem(&xlvs_bench_seq, &one);

	if (!seq || !cycle)
		return 0;
	++*seq;
	return bpf_htonl(*cycle ? *seq % *cycle + 1 : *seq);
}

#endif /* XLVS_BENCH_FLOW_H */
