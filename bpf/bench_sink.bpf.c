/* SPDX-License-Identifier: GPL-2.0-only */
/* bench_sink.bpf.c: counts the frames the director under test sends back (and drops them), attached to the generator's veth. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bench_sink_count SEC(".maps");

SEC("xdp")
int bench_sink(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&bench_sink_count, &zero);

	/* verifier: per-CPU array lookups may return NULL */
	if (n)
		(*n)++;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
