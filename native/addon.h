// SPDX-License-Identifier: Apache-2.0
// addon.h: per-environment state and the entry points each native file contributes to the module.
#ifndef XLVS_NATIVE_ADDON_H
#define XLVS_NATIVE_ADDON_H

#include <napi.h>

namespace xlvs {

// Constructors are kept per environment (main thread and each worker thread
// get their own) so C++ can create instances, e.g. BpfObject.map() -> BpfMap.
struct AddonData {
  Napi::FunctionReference bpfMap;
  Napi::FunctionReference bpfObject;
  Napi::FunctionReference xdpLink;
};

inline AddonData& GetAddonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// test_run.cc: testRun(progFd, opts), BPF_PROG_TEST_RUN on a worker thread.
Napi::Value TestRun(const Napi::CallbackInfo& info);
// test_run.cc: testRunSync(progFd, data), one BPF_PROG_TEST_RUN on the JS thread (a short program: xlvs_syncin).
Napi::Value TestRunSync(const Napi::CallbackInfo& info);

}  // namespace xlvs

#endif  // XLVS_NATIVE_ADDON_H
