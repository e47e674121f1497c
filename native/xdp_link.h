// SPDX-License-Identifier: Apache-2.0
// xdp_link.h: XdpLink, a JS handle owning one XDP bpf_link fd.
#ifndef XLVS_NATIVE_XDP_LINK_H
#define XLVS_NATIVE_XDP_LINK_H

#include <napi.h>

#include <string>

namespace xlvs {

class XdpLink : public Napi::ObjectWrap<XdpLink> {
 public:
  static Napi::Function Init(Napi::Env env);

  explicit XdpLink(const Napi::CallbackInfo& info);
  ~XdpLink() override;

 private:
  // What the static factories pass to the constructor through an External.
  struct Seed {
    int fd;
    int ifindex;
    bool generic;
  };
  static Napi::Object NewLink(Napi::Env env, int fd, int ifindex, bool generic);

  static Napi::Value Attach(const Napi::CallbackInfo& info);
  static Napi::Value OpenPinned(const Napi::CallbackInfo& info);

  Napi::Value GetMode(const Napi::CallbackInfo& info);
  Napi::Value GetIfindex(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value Pin(const Napi::CallbackInfo& info);
  Napi::Value Update(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  int fd_ = -1;
  int ifindex_ = 0;
  bool generic_ = false;
};

}  // namespace xlvs

#endif  // XLVS_NATIVE_XDP_LINK_H
