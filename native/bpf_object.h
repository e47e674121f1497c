// SPDX-License-Identifier: Apache-2.0
// bpf_object.h: BpfObject, a JS handle owning one loaded libbpf bpf_object.
#ifndef XLVS_NATIVE_BPF_OBJECT_H
#define XLVS_NATIVE_BPF_OBJECT_H

#include <napi.h>

struct bpf_object;

namespace xlvs {

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Init(Napi::Env env);
  // Wraps obj, taking ownership.
  static Napi::Object NewFromObject(Napi::Env env, struct bpf_object* obj);

  explicit BpfObject(const Napi::CallbackInfo& info);
  ~BpfObject() override;

 private:
  static Napi::Value Open(const Napi::CallbackInfo& info);

  Napi::Value ProgramNames(const Napi::CallbackInfo& info);
  Napi::Value ProgramFd(const Napi::CallbackInfo& info);
  Napi::Value ProgramInfo(const Napi::CallbackInfo& info);
  Napi::Value MapNames(const Napi::CallbackInfo& info);
  Napi::Value Map(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  void CheckOpen(Napi::Env env, const char* what) const;

  struct bpf_object* obj_ = nullptr;
};

}  // namespace xlvs

#endif  // XLVS_NATIVE_BPF_OBJECT_H
