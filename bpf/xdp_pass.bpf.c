/* SPDX-License-Identifier: GPL-2.0-only */
/* xdp_pass.bpf.c: a do-nothing XDP program for the peer of a veth that receives XDP_TX frames (veth drops them otherwise). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
