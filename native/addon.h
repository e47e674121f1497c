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

Napi::Object AbiExports(Napi::Env env);
Napi::Value TestRun(const Napi::CallbackInfo& info);
// netlink.cc: the NeighSocket class and if_nametoindex(3).
Napi::Function NeighSocketClass(Napi::Env env);
Napi::Value IfNameToIndex(const Napi::CallbackInfo& info);

}  // namespace xlvs

#endif  // XLVS_NATIVE_ADDON_H
