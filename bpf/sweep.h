/* SPDX-License-Identifier: GPL-2.0-only */
/* sweep.h: the sweeper program (xlvs_sweep), included once by xlvs.bpf.c: idle entries expire, activity bits are read and cleared. */

struct bpf_map; /* only passed back to helpers by the bpf_for_each_map_elem callbacks */

/* ---- the sweeper: run by the control plane through BPF_PROG_TEST_RUN (any frame), never attached ---- */

/* Templates of either family: the key is only handed back to delete the entry. */
static __always_inline long sweep_template_any(struct bpf_map *map, void *key, struct xlvs_persist *t, struct sweep_ctx *sc)
{
	sc->templates++;
	if (idle_for(sc->now, t->last_seen) >= (__s32)t->timeout) {
		bpf_map_delete_elem(map, key);
		sc->templates_expired++;
	}
	return 0;
}

static long sweep_template(struct bpf_map *map, struct xlvs_persist_key *key, struct xlvs_persist *t, struct sweep_ctx *sc)
{
	struct xlvs_persist_key k = *key;

	return sweep_template_any(map, &k, t, sc);
}

static long sweep_template6(struct bpf_map *map, struct xlvs_persist6_key *key, struct xlvs_persist *t, struct sweep_ctx *sc)
{
	struct xlvs_persist6_key k = *key;

	return sweep_template_any(map, &k, t, sc);
}

/*
 * Idle timeouts: an XDP program has no timers, so the control plane runs this every
 * sweep interval. One run walks XLVS_SWEEP_CHUNK buckets from where the last one
 * stopped (a run holds its CPU, with bottom halves off, for its whole length: a pass
 * over a 4M-entry table in one run took ~40 ms); the control plane repeats runs until
 * the pass wraps. A pass walks xlvs_conn, then xlvs_conn6 (its buckets are as long:
 * half the ways, each twice the size). Templates are swept at the start of each pass.
 */
SEC("xdp")
int xlvs_sweep(struct xdp_md *ctx)
{
	struct sweep_ctx sc = {};
	struct xlvs_sweep_stats *st;
	struct xlvs_ct_geo geo;
	struct xlvs_cfg *cfg;
	__u32 zero = 0, i, n, total4, total6, total, first;

	cfg = bpf_map_lookup_elem(&xlvs_cfg, &zero);
	st = bpf_map_lookup_elem(&xlvs_sweepst, &zero);
	if (!cfg || !st)
		return XDP_ABORTED;
	sc.now = now_seconds();
	sc.seed = cfg->ct_seed;
	sc.buckets = cfg->ct_buckets ? cfg->ct_buckets : 1;
	sc.last_slice = (cfg->ct_total > sc.buckets ? cfg->ct_total : sc.buckets) - sc.buckets;
	sc.buckets6 = cfg->ct6_buckets ? cfg->ct6_buckets : 1;
	sc.last_slice6 = (cfg->ct6_total > sc.buckets6 ? cfg->ct6_total : sc.buckets6) - sc.buckets6;
#pragma unroll
	for (i = 0; i < XLVS_CS_COUNT; i++)
		sc.timeout[i] = cfg->timeout[i];
	geo = ct_geo();
	sc.grows = geo.live;
	/* A growable table's entries lie in its live buckets (and the size before's, while they move): the rest are empty. */
	total4 = geo.live ? (geo.live > geo.prev ? geo.live : geo.prev) : cfg->ct_total;
	if (!total4)
		total4 = 1;
	geo = ct_geo6();
	sc.grows6 = geo.live;
	total6 = geo.live ? (geo.live > geo.prev ? geo.live : geo.prev) : cfg->ct6_total;
	total = total4 + total6;
	first = st->cursor < total ? st->cursor : 0;
	if (!first) {
		bpf_for_each_map_elem(&xlvs_persist, sweep_template, &sc, 0);
		bpf_for_each_map_elem(&xlvs_persist6, sweep_template6, &sc, 0);
		st->templates = sc.templates;
		st->templates_expired += sc.templates_expired;
		st->pass_conns = 0;
		st->pass_conns6 = 0;
	}
	if (first < total4) {
		n = total4 - first;
		if (n > XLVS_SWEEP_CHUNK)
			n = XLVS_SWEEP_CHUNK;
		sc.first = first;
		bpf_loop(n * XLVS_CT_WAYS, sweep_way, &sc, 0);
	} else {
		n = total - first;
		if (n > XLVS_SWEEP_CHUNK)
			n = XLVS_SWEEP_CHUNK;
		sc.first = first - total4;
		bpf_loop(n * XLVS_CT6_WAYS, sweep_way6, &sc, 0);
		st->pass_conns6 += sc.conns;
	}
	st->now = sc.now;
	st->pass_conns += sc.conns;
	st->expired += sc.expired;
	st->cursor = first + n;
	if (st->cursor >= total) {
		st->cursor = 0;
		st->conns = st->pass_conns;
		st->conns6 = st->pass_conns6;
		st->runs++;
	}
	return XDP_PASS;
}
