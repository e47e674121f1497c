// SPDX-License-Identifier: Apache-2.0
// probe.cc: what the running kernel offers (libbpf's feature probes) and what it reports of loaded programs.
#include "probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"

namespace xlvs {

namespace {

// libbpf's probes answer 1 (supported), 0 (not) or -errno (could not tell, e.g. EPERM).
Napi::Value ProbeAnswer(Napi::Env env, int ret, const char* what) {
  if (ret < 0) ThrowErrno(env, ret, what);
  return Napi::Boolean::New(env, ret == 1);
}

Napi::Value ProbeProgType(const Napi::CallbackInfo& info) {
  uint32_t type = static_cast<uint32_t>(IntArg(info, 0, "progType"));
  return ProbeAnswer(info.Env(), libbpf_probe_bpf_prog_type(static_cast<enum bpf_prog_type>(type), nullptr), "libbpf_probe_bpf_prog_type");
}

Napi::Value ProbeMapType(const Napi::CallbackInfo& info) {
  uint32_t type = static_cast<uint32_t>(IntArg(info, 0, "mapType"));
  return ProbeAnswer(info.Env(), libbpf_probe_bpf_map_type(static_cast<enum bpf_map_type>(type), nullptr), "libbpf_probe_bpf_map_type");
}

Napi::Value ProbeHelper(const Napi::CallbackInfo& info) {
  uint32_t prog_type = static_cast<uint32_t>(IntArg(info, 0, "progType"));
  uint32_t helper = static_cast<uint32_t>(IntArg(info, 1, "helperId"));
  return ProbeAnswer(info.Env(), libbpf_probe_bpf_helper(static_cast<enum bpf_prog_type>(prog_type), static_cast<enum bpf_func_id>(helper), nullptr),
                     "libbpf_probe_bpf_helper");
}

// Every program loaded in the kernel (as bpftool prog lists them), with the ids of the maps it uses.
Napi::Value Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t id = 0, n = 0;
  for (;;) {
    if (bpf_prog_get_next_id(id, &id) < 0) {
      if (errno == ENOENT) break;
      ThrowErrno(env, errno, "bpf_prog_get_next_id");
    }
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // unloaded since the id was listed
      ThrowErrno(env, errno, "bpf_prog_get_fd_by_id", "program " + std::to_string(id));
    }
    Napi::Object o = ProgramInfoOf(env, fd);
    close(fd);
    out.Set(n++, o);
  }
  return out;
}

}  // namespace

Napi::Object ProgramInfoOf(Napi::Env env, int fd) {
  // Two calls: the first learns how many maps the program uses, the second fetches their ids.
  struct bpf_prog_info pi = {};
  uint32_t len = sizeof(pi);
  if (bpf_obj_get_info_by_fd(fd, &pi, &len) < 0) ThrowErrno(env, errno, "bpf_obj_get_info_by_fd", "program");
  std::vector<uint32_t> map_ids(pi.nr_map_ids);
  uint32_t nr = pi.nr_map_ids;
  pi = {};
  pi.nr_map_ids = nr;
  pi.map_ids = reinterpret_cast<uint64_t>(map_ids.data());
  len = sizeof(pi);
  if (bpf_obj_get_info_by_fd(fd, &pi, &len) < 0) ThrowErrno(env, errno, "bpf_obj_get_info_by_fd", "program");
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", Napi::Number::New(env, pi.id));
  o.Set("name", Napi::String::New(env, pi.name));
  o.Set("type", Napi::Number::New(env, pi.type));
  // verified_insns arrived in 5.16; an older kernel leaves it 0 (or the field outside the info it returns).
  bool has_verified = len >= offsetof(struct bpf_prog_info, verified_insns) + sizeof(pi.verified_insns) && pi.verified_insns > 0;
  o.Set("verifiedInsns", has_verified ? Napi::Value(Napi::Number::New(env, pi.verified_insns)) : env.Null());
  Napi::Array ids = Napi::Array::New(env);
  for (uint32_t i = 0; i < std::min(nr, pi.nr_map_ids); i++) ids.Set(i, Napi::Number::New(env, map_ids[i]));
  o.Set("mapIds", ids);
  return o;
}

Napi::Object ProbeExports(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("progType", Napi::Function::New<ProbeProgType>(env, "progType"));
  o.Set("mapType", Napi::Function::New<ProbeMapType>(env, "mapType"));
  o.Set("helper", Napi::Function::New<ProbeHelper>(env, "helper"));
  o.Set("programs", Napi::Function::New<Programs>(env, "programs"));
  return o;
}

}  // namespace xlvs
