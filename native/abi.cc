// abi.cc: sizes, field offsets and constants of bpf/include/xlvs_abi.h, checked at compile time and exported to JS.
#include <cstddef>

#include "addon.h"
#include "xlvs_abi.h"

namespace xlvs {

// The datapath and TypeScript codecs both hard-code these sizes; a change to the
// header must be a deliberate ABI change, so it has to break this build too.
static_assert(sizeof(struct xlvs_svc_key) == 8, "xlvs_svc_key size");
static_assert(sizeof(struct xlvs_svc) == 24, "xlvs_svc size");
static_assert(sizeof(struct xlvs_conn_key) == 16, "xlvs_conn_key size");
static_assert(sizeof(struct xlvs_conn) == 16, "xlvs_conn size");
static_assert(sizeof(struct xlvs_real) == 32, "xlvs_real size");
static_assert(sizeof(struct xlvs_real_conns) == 24, "xlvs_real_conns size");
static_assert(sizeof(struct xlvs_seq_pos) == 8, "xlvs_seq_pos size");
static_assert(sizeof(struct xlvs_persist_key) == 8, "xlvs_persist_key size");
static_assert(sizeof(struct xlvs_persist) == 16, "xlvs_persist size");
static_assert(sizeof(struct xlvs_sweep_stats) == 64, "xlvs_sweep_stats size");
static_assert(sizeof(struct xlvs_ct_entry) == 32, "xlvs_ct_entry size");
static_assert(sizeof(struct xlvs_ct_bucket) == 32 * XLVS_CT_WAYS, "xlvs_ct_bucket size");
static_assert(sizeof(struct xlvs_cfg) == 80, "xlvs_cfg size");
static_assert(sizeof(struct xlvs_counters) == 32, "xlvs_counters size");
static_assert(sizeof(struct xlvs_verdicts) == 88, "xlvs_verdicts size");

namespace {

#define XLVS_FIELD(T, f)                                                          \
  do {                                                                            \
    Napi::Object fo = Napi::Object::New(env);                                     \
    fo.Set("offset", Napi::Number::New(env, offsetof(struct T, f)));              \
    fo.Set("size", Napi::Number::New(env, sizeof(static_cast<struct T*>(nullptr)->f))); \
    fields.Set(#f, fo);                                                           \
  } while (0)

#define XLVS_STRUCT(T, BODY)                                     \
  do {                                                           \
    Napi::Object so = Napi::Object::New(env);                    \
    Napi::Object fields = Napi::Object::New(env);                \
    BODY                                                         \
    so.Set("size", Napi::Number::New(env, sizeof(struct T)));    \
    so.Set("fields", fields);                                    \
    structs.Set(#T, so);                                         \
  } while (0)

#define XLVS_CONST(C) constants.Set(#C, Napi::Number::New(env, static_cast<double>(C)))

}  // namespace

Napi::Object AbiExports(Napi::Env env) {
  Napi::Object structs = Napi::Object::New(env);
  XLVS_STRUCT(xlvs_svc_key, {
    XLVS_FIELD(xlvs_svc_key, vip);
    XLVS_FIELD(xlvs_svc_key, port);
    XLVS_FIELD(xlvs_svc_key, proto);
    XLVS_FIELD(xlvs_svc_key, pad);
  });
  XLVS_STRUCT(xlvs_svc, {
    XLVS_FIELD(xlvs_svc, id);
    XLVS_FIELD(xlvs_svc, flags);
    XLVS_FIELD(xlvs_svc, tbl_size);
    XLVS_FIELD(xlvs_svc, sched);
    XLVS_FIELD(xlvs_svc, pad);
    XLVS_FIELD(xlvs_svc, persist_timeout);
    XLVS_FIELD(xlvs_svc, persist_mask);
  });
  XLVS_STRUCT(xlvs_conn_key, {
    XLVS_FIELD(xlvs_conn_key, saddr);
    XLVS_FIELD(xlvs_conn_key, daddr);
    XLVS_FIELD(xlvs_conn_key, sport);
    XLVS_FIELD(xlvs_conn_key, dport);
    XLVS_FIELD(xlvs_conn_key, proto);
    XLVS_FIELD(xlvs_conn_key, pad);
  });
  XLVS_STRUCT(xlvs_conn, {
    XLVS_FIELD(xlvs_conn, real_id);
    XLVS_FIELD(xlvs_conn, svc_id);
    XLVS_FIELD(xlvs_conn, state);
    XLVS_FIELD(xlvs_conn, flags);
    XLVS_FIELD(xlvs_conn, last_seen);
    XLVS_FIELD(xlvs_conn, hits);
    XLVS_FIELD(xlvs_conn, hits_seen);
  });
  XLVS_STRUCT(xlvs_ct_entry, {
    XLVS_FIELD(xlvs_ct_entry, key);
    XLVS_FIELD(xlvs_ct_entry, val);
  });
  XLVS_STRUCT(xlvs_ct_bucket, {
    XLVS_FIELD(xlvs_ct_bucket, e);
  });
  XLVS_STRUCT(xlvs_real, {
    XLVS_FIELD(xlvs_real, mac);
    XLVS_FIELD(xlvs_real, flags);
    XLVS_FIELD(xlvs_real, addr);
    XLVS_FIELD(xlvs_real, svc_id);
    XLVS_FIELD(xlvs_real, weight);
    XLVS_FIELD(xlvs_real, u_threshold);
    XLVS_FIELD(xlvs_real, l_threshold);
    XLVS_FIELD(xlvs_real, pad);
  });
  XLVS_STRUCT(xlvs_real_conns, {
    XLVS_FIELD(xlvs_real_conns, active);
    XLVS_FIELD(xlvs_real_conns, inactive);
    XLVS_FIELD(xlvs_real_conns, overloaded);
    XLVS_FIELD(xlvs_real_conns, pad);
  });
  XLVS_STRUCT(xlvs_seq_pos, {
    XLVS_FIELD(xlvs_seq_pos, next);
  });
  XLVS_STRUCT(xlvs_persist_key, {
    XLVS_FIELD(xlvs_persist_key, caddr);
    XLVS_FIELD(xlvs_persist_key, svc_id);
  });
  XLVS_STRUCT(xlvs_persist, {
    XLVS_FIELD(xlvs_persist, real_id);
    XLVS_FIELD(xlvs_persist, svc_id);
    XLVS_FIELD(xlvs_persist, last_seen);
    XLVS_FIELD(xlvs_persist, timeout);
  });
  XLVS_STRUCT(xlvs_sweep_stats, {
    XLVS_FIELD(xlvs_sweep_stats, now);
    XLVS_FIELD(xlvs_sweep_stats, conns);
    XLVS_FIELD(xlvs_sweep_stats, expired);
    XLVS_FIELD(xlvs_sweep_stats, templates);
    XLVS_FIELD(xlvs_sweep_stats, templates_expired);
    XLVS_FIELD(xlvs_sweep_stats, runs);
    XLVS_FIELD(xlvs_sweep_stats, cursor);
    XLVS_FIELD(xlvs_sweep_stats, pass_conns);
  });
  XLVS_STRUCT(xlvs_cfg, {
    XLVS_FIELD(xlvs_cfg, mac);
    XLVS_FIELD(xlvs_cfg, pad);
    XLVS_FIELD(xlvs_cfg, timeout);
    XLVS_FIELD(xlvs_cfg, ct_buckets);
    XLVS_FIELD(xlvs_cfg, ct_per_cpu);
    XLVS_FIELD(xlvs_cfg, ct_seed);
    XLVS_FIELD(xlvs_cfg, ct_total);
    XLVS_FIELD(xlvs_cfg, accept_mac);
  });
  XLVS_STRUCT(xlvs_counters, {
    XLVS_FIELD(xlvs_counters, packets);
    XLVS_FIELD(xlvs_counters, bytes);
    XLVS_FIELD(xlvs_counters, conns);
    XLVS_FIELD(xlvs_counters, drops);
  });
  XLVS_STRUCT(xlvs_verdicts, {
    XLVS_FIELD(xlvs_verdicts, pass_not_ipv4);
    XLVS_FIELD(xlvs_verdicts, pass_malformed);
    XLVS_FIELD(xlvs_verdicts, pass_fragment);
    XLVS_FIELD(xlvs_verdicts, pass_no_service);
    XLVS_FIELD(xlvs_verdicts, tx_existing);
    XLVS_FIELD(xlvs_verdicts, tx_new);
    XLVS_FIELD(xlvs_verdicts, drop_no_real);
    XLVS_FIELD(xlvs_verdicts, aborted);
    XLVS_FIELD(xlvs_verdicts, ct_evicted);
    XLVS_FIELD(xlvs_verdicts, ct_untracked);
    XLVS_FIELD(xlvs_verdicts, pass_not_for_us);
  });

  Napi::Object constants = Napi::Object::New(env);
  XLVS_CONST(XLVS_MAX_SERVICES);
  XLVS_CONST(XLVS_MAX_REALS);
  XLVS_CONST(XLVS_CONN_DEFAULT_MAX);
  XLVS_CONST(XLVS_MH_DEFAULT_SIZE);
  XLVS_CONST(XLVS_REAL_NONE);
  XLVS_CONST(XLVS_CT_WAYS);
  XLVS_CONST(XLVS_ACCEPT_MACS);
  XLVS_CONST(XLVS_REAL_F_MAC);
  XLVS_CONST(XLVS_REAL_F_SCHED);
  XLVS_CONST(XLVS_SEQ_MAX_TRIES);
  XLVS_CONST(XLVS_FALLBACK_TRIES);
  XLVS_CONST(XLVS_FALLBACK_STRIDE);
  XLVS_CONST(XLVS_TBL_MAX);
  XLVS_CONST(XLVS_SWEEP_CHUNK);
  XLVS_CONST(XLVS_SVC_F_HASH_PORT);
  XLVS_CONST(XLVS_SVC_F_FALLBACK);
  XLVS_CONST(XLVS_CONN_F_PERSIST);
  XLVS_CONST(XLVS_SCHED_MH);
  XLVS_CONST(XLVS_SCHED_RR);
  XLVS_CONST(XLVS_SCHED_WRR);
  XLVS_CONST(XLVS_SCHED_LC);
  XLVS_CONST(XLVS_SCHED_WLC);
  XLVS_CONST(XLVS_SCHED_SED);
  XLVS_CONST(XLVS_SCHED_NQ);
  XLVS_CONST(XLVS_SCHED_SH);
  XLVS_CONST(XLVS_SCHED_DH);
  XLVS_CONST(XLVS_SCHED_FO);
  XLVS_CONST(XLVS_SCHED_OVF);
  XLVS_CONST(XLVS_CS_NONE);
  XLVS_CONST(XLVS_CS_SYN_RECV);
  XLVS_CONST(XLVS_CS_ESTABLISHED);
  XLVS_CONST(XLVS_CS_FIN_WAIT);
  XLVS_CONST(XLVS_CS_CLOSE);
  XLVS_CONST(XLVS_CS_UDP);
  XLVS_CONST(XLVS_CS_COUNT);

  Napi::Object abi = Napi::Object::New(env);
  abi.Set("structs", structs);
  abi.Set("constants", constants);
  return abi;
}

}  // namespace xlvs
