/* SPDX-License-Identifier: GPL-2.0-only */
/* tblmark.h: the hash-table marks program (xlvs_tblmark), included once by xlvs.bpf.c, run after each sweep pass. */

/* ---- hash-table marks: settled after each sweep pass, run by the control plane through BPF_PROG_TEST_RUN, never attached ---- */

struct tblmark_ctx {
	__u32 svc_id;
	__u32 mode;  /* XLVS_TBLMARK_* */
	__u32 moved; /* 1: a bucket is left MOVED */
};

/*
 * One bucket. Settle: HELD (a live entry differed from the owner this pass, or a mark came since) is cleared and MOVED
 * kept; MOVED without HELD is cleared. A plain store, as tbl_mark()'s: a mark new_connection() or a sync
 * insert stores in the same nanoseconds can be lost; the sweeper's next pass puts it back (ct_hold_mark).
 */
static long tblmark_one(__u32 i, struct tblmark_ctx *tc)
{
	__u32 *slot, v, nv;
	void *table;

	/* verifier: the callback cannot carry the inner map pointer, so it looks the table up again (an inlined array lookup) */
	table = bpf_map_lookup_elem(&xlvs_tbl, &tc->svc_id);
	if (!table)
		return 1;
	slot = bpf_map_lookup_elem(table, &i);
	if (!slot)
		return 1; /* past the end of the table */
	v = *(volatile __u32 *)slot;
	if (v == XLVS_REAL_NONE)
		return 0;
	if (tc->mode == XLVS_TBLMARK_ALL) {
		*(volatile __u32 *)slot = v | XLVS_TBL_MOVED | XLVS_TBL_HELD;
		tc->moved = 1; /* verifier: a flag, not a count, so the callback's states converge */
		return 0;
	}
	if (!(v & (XLVS_TBL_MOVED | XLVS_TBL_HELD)))
		return 0;
	nv = v & XLVS_TBL_HELD ? v & ~XLVS_TBL_HELD : v & ~XLVS_TBL_MOVED;
	*(volatile __u32 *)slot = nv;
	if (nv & XLVS_TBL_MOVED)
		tc->moved = 1;
	return 0;
}

/*
 * The frame: the service id and XLVS_TBLMARK_*. Its xlvs_tblmarked flag is cleared first and set again if a bucket
 * stays MOVED (the datapath sets it with any mark it adds meanwhile); retval 1 when one does.
 */
SEC("xdp")
int xlvs_tblmark(struct xdp_md *ctx)
{
	struct tblmark_ctx tc = {};
	__u32 in[2], *marked;

	if (bpf_xdp_load_bytes(ctx, 0, in, sizeof(in)))
		return XDP_ABORTED;
	tc.svc_id = in[0];
	tc.mode = in[1];
	marked = bpf_map_lookup_elem(&xlvs_tblmarked, &tc.svc_id);
	if (!marked)
		return XDP_ABORTED;
	*marked = 0;
	bpf_loop(XLVS_TBL_MAX, tblmark_one, &tc, 0);
	if (tc.moved)
		*marked = 1;
	return tc.moved;
}
