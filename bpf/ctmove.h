/* SPDX-License-Identifier: GPL-2.0-only */
/* ctmove.h: the growable table's move program (xlvs_ctmove), included once by xlvs.bpf.c: entries moved to their bucket at a new size. */

/* ---- the growable connection table: entries moved to a new size (xlvs_ctmove), run by the control plane through BPF_PROG_TEST_RUN, never attached ---- */

/*
 * Resizes a growable xlvs_conn, or xlvs_conn6 with XLVS_CTMOVE_F_INET6 (the frame: XLVS_CTMOVE_* and its argument;
 * each table has its own xlvs_ctgeo and is resized on its own). The control plane begins a resize, steps
 * over every bucket of both sizes until a whole walk moves nothing and leaves nothing, then ends it; a lookup tries
 * the size before's bucket, then the live one, until the end. Serialised with xlvs_sweep by the control plane, which
 * also waits an RCU grace period after BEGIN and REVERT before the first step: a packet that read xlvs_ctgeo before
 * the change looks only where its entry lay then, and must be done before any entry moves.
 */
SEC("xdp")
int xlvs_ctmove(struct xdp_md *ctx)
{
	struct xlvs_ct_geo geo __attribute__((aligned(8)));
	struct ctmove_ctx mc = {};
	struct xlvs_cfg *cfg;
	__u32 in[2], zero = 0, span, n, t, inet6;
	__u64 *g;

	if (bpf_xdp_load_bytes(ctx, 0, in, sizeof(in)))
		return XDP_ABORTED;
	inet6 = in[0] & XLVS_CTMOVE_F_INET6;
	cfg = bpf_map_lookup_elem(&xlvs_cfg, &zero);
	g = inet6 ? bpf_map_lookup_elem(&xlvs_ctgeo6, &zero) : bpf_map_lookup_elem(&xlvs_ctgeo, &zero);
	if (!cfg || !g)
		return XDP_ABORTED;
	*(__u64 *)&geo = *(volatile __u64 *)g;
	switch (in[0] & ~XLVS_CTMOVE_F_INET6) {
	case XLVS_CTMOVE_BEGIN:
		if (!geo.live || geo.prev || cfg->ct_per_cpu || !in[1] || (in[1] & (in[1] - 1)) || in[1] > (inet6 ? cfg->ct6_buckets : cfg->ct_buckets))
			return 1;
		geo.prev = geo.live;
		geo.live = in[1];
		break;
	case XLVS_CTMOVE_STEP:
		span = geo.live > geo.prev ? geo.live : geo.prev;
		if (!geo.live || in[1] >= span)
			return 0;
		n = span - in[1];
		if (n > XLVS_SWEEP_CHUNK)
			n = XLVS_SWEEP_CHUNK;
		mc.first = in[1];
		mc.live = geo.live;
		mc.seed = cfg->ct_seed;
		if (inet6)
			bpf_loop(n * XLVS_CT6_WAYS, ctmove_way6, &mc, 0);
		else
			bpf_loop(n * XLVS_CT_WAYS, ctmove_way, &mc, 0);
		/* verifier: the counts go back in the frame, not as the return value, which would make them precise and keep the walk's loop from converging */
		bpf_xdp_store_bytes(ctx, 8, &mc.moved, 2 * sizeof(__u32));
		return 0;
	case XLVS_CTMOVE_END:
		geo.prev = 0;
		break;
	case XLVS_CTMOVE_REVERT:
		if (!geo.prev)
			return 1;
		t = geo.live;
		geo.live = geo.prev;
		geo.prev = t;
		break;
	default:
		return 1;
	}
	*(volatile __u64 *)g = *(__u64 *)&geo;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
