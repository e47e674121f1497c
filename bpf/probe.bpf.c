/* SPDX-License-Identifier: GPL-2.0-only */
/* probe.bpf.c: one tiny program per kernel feature that libbpf cannot probe on its own; loaded one at a time at start. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} probe_word SEC(".maps");

/* BPF_ATOMIC with BPF_FETCH and BPF_CMPXCHG (5.12): connection counts, rr/wrr positions, table claims. */
SEC("xdp")
int probe_atomics(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *w = bpf_map_lookup_elem(&probe_word, &zero);

	if (!w)
		return XDP_PASS;
	__sync_fetch_and_add(w, 1);
	__sync_val_compare_and_swap(w, 1, 2);
	return XDP_PASS;
}

struct probe_arg {
	__u32 a;
	__u32 b;
};

/* A global function taking a pointer to memory (5.12): the datapath's new-connection path and schedulers. */
__noinline int probe_global(struct probe_arg *p)
{
	/* verifier: a global function's pointer arguments may be NULL */
	if (!p)
		return 0;
	return p->a + p->b;
}

SEC("xdp")
int probe_global_ptr(struct xdp_md *ctx)
{
	struct probe_arg p = {.a = 1, .b = 1};

	return probe_global(&p) == 2 ? XDP_PASS : XDP_DROP;
}

/* A target for BPF_PROG_TEST_RUN, plain and with live frames: XDP_DROP, so a live frame goes nowhere. */
SEC("xdp")
int probe_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
