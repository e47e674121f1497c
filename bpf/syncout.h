/* SPDX-License-Identifier: GPL-2.0-only */
/* syncout.h: connection sync records out (xlvs_syncq), included once by xlvs.bpf.c. */

/* Fills a reserved record. Not inlined: its prototype is what puts struct xlvs_sync_rec in the object's BTF (abi.test.ts). */
static __noinline void sync_fill(struct xlvs_sync_rec *r, const struct xlvs_conn_key *key, __u32 real_id, __u32 svc_id, __u32 state_flags)
{
	struct xlvs_real *real;
	__u32 id = real_id;

	__builtin_memcpy(&r->key, key, sizeof(r->key));
	real = bpf_map_lookup_elem(&xlvs_reals, &id);
	r->stamp = bpf_ktime_get_ns();
	r->real_id = real_id;
	r->raddr = real ? real->addr : 0;
	r->svc_id = svc_id;
	r->state = state_flags;
	r->flags = state_flags >> 8;
	r->pad[0] = 0;
	r->pad[1] = 0;
}

/*
 * Records one connection (its state) or template (state_flags XLVS_SYNC_F_TEMPLATE << 8) for the sync master's
 * reader. A global function: the packet path pays one predictable branch on cfg->sync_emit while sync is off, and
 * the record is written straight into the ring, never built on the packet path's stack (512 bytes for all frames).
 * A full queue never blocks forwarding: the record is dropped and counted (xlvs_verdicts.sync_lost).
 */
__noinline int sync_emit(const struct xlvs_conn_key *key, __u32 real_id, __u32 svc_id, __u32 state_flags)
{
	struct xlvs_sync_rec *r;
	struct xlvs_verdicts *vd;
	__u32 zero = 0;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!key)
		return 0;
	r = bpf_ringbuf_reserve(&xlvs_syncq, sizeof(*r), 0);
	if (!r) {
		vd = bpf_map_lookup_elem(&xlvs_verdicts, &zero);
		if (vd)
			vd->sync_lost++;
		return 0;
	}
	sync_fill(r, key, real_id, svc_id, state_flags);
	/* Flags 0: the kernel wakes the reader only when it had caught up, so a busy queue costs no wakeup per record. */
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/*
 * Records the template a new connection of this flow wrote, keyed as IPVS keys one: the client address masked by the
 * service's persist mask, client port 0, the service's port (0 for a port-0 service). A global function.
 */
__noinline int sync_template(const struct xlvs_conn_key *key, __u32 real_id, __u32 svc_id)
{
	struct xlvs_conn_key tk __attribute__((aligned(8))) = {};
	struct xlvs_svc_key skey = {};
	struct xlvs_svc *svc;

	/* verifier: a global function's pointer arguments may be NULL */
	if (!key)
		return 0;
	skey.vip = key->daddr;
	skey.port = key->dport;
	skey.proto = key->proto;
	svc = bpf_map_lookup_elem(&xlvs_svc, &skey);
	if (!svc || svc->id != svc_id) {
		skey.port = 0; /* the port-0 service service_for() fell back to */
		svc = bpf_map_lookup_elem(&xlvs_svc, &skey);
		if (!svc || svc->id != svc_id)
			return 0;
	}
	tk.saddr = key->saddr & svc->persist_mask;
	tk.daddr = key->daddr;
	tk.dport = skey.port;
	tk.proto = key->proto;
	return sync_emit(&tk, real_id, svc_id, XLVS_CS_NONE | XLVS_SYNC_F_TEMPLATE << 8);
}
