// SPDX-License-Identifier: Apache-2.0
// xdp_link.cc: XdpLink, attaching an XDP program to an interface as a bpf_link and managing that link.
#include "xdp_link.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <cstring>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "fd.h"

namespace xlvs {

Napi::Function XdpLink::Init(Napi::Env env) {
  return DefineClass(env, "XdpLink",
                     {
                         StaticMethod<&XdpLink::Attach>("attach"),
                         StaticMethod<&XdpLink::OpenPinned>("openPinned"),
                         InstanceAccessor<&XdpLink::GetMode>("mode"),
                         InstanceAccessor<&XdpLink::GetIfindex>("ifindex"),
                         InstanceAccessor<&XdpLink::GetFd>("fd"),
                         InstanceMethod<&XdpLink::Pin>("pin"),
                         InstanceMethod<&XdpLink::Update>("update"),
                         InstanceMethod<&XdpLink::Detach>("detach"),
                         InstanceMethod<&XdpLink::Close>("close"),
                     });
}

Napi::Object XdpLink::NewLink(Napi::Env env, int fd, int ifindex, bool generic) {
  FdGuard guard(fd);
  Seed init{fd, ifindex, generic};
  Napi::Object o = GetAddonData(env).xdpLink.New({Napi::External<Seed>::New(env, &init)});
  guard.release();
  return o;
}

XdpLink::XdpLink(const Napi::CallbackInfo& info) : Napi::ObjectWrap<XdpLink>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "use XdpLink.attach() or XdpLink.openPinned()");
  }
  const Seed* init = info[0].As<Napi::External<Seed>>().Data();
  fd_ = init->fd;
  ifindex_ = init->ifindex;
  generic_ = init->generic;
}

XdpLink::~XdpLink() {
  // Closing the last fd of an unpinned link detaches it, which is the point:
  // a link nobody holds any more should not keep steering traffic.
  if (fd_ >= 0) close(fd_);
}

Napi::Value XdpLink::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = static_cast<int>(IntArg(info, 0, "progFd"));
  std::string ifname = StringArg(info, 1, "ifname");
  std::string mode = StringArg(info, 2, "mode");
  if (mode != "native" && mode != "generic" && mode != "auto") {
    throw Napi::TypeError::New(env, "mode must be 'native', 'generic' or 'auto'");
  }
  unsigned int ifindex = if_nametoindex(ifname.c_str());
  // if_nametoindex reports a missing device as ENODEV, but a name that is too
  // long or otherwise odd can leave another errno; the caller only cares that
  // there is no such interface.
  if (ifindex == 0) ThrowErrno(env, ENODEV, "if_nametoindex", "interface '" + ifname + "'");

  LIBBPF_OPTS(bpf_link_create_opts, opts);
  int native_err = 0;
  if (mode != "generic") {
    opts.flags = XDP_FLAGS_DRV_MODE;
    int fd = bpf_link_create(prog_fd, static_cast<int>(ifindex), BPF_XDP, &opts);
    if (fd >= 0) return NewLink(env, fd, static_cast<int>(ifindex), false);
    if (mode == "native") ThrowErrno(env, fd, "bpf_link_create", "native XDP on '" + ifname + "'");
    native_err = -fd;
  }
  opts.flags = XDP_FLAGS_SKB_MODE;
  int fd = bpf_link_create(prog_fd, static_cast<int>(ifindex), BPF_XDP, &opts);
  if (fd < 0) {
    std::string ctx = "generic XDP on '" + ifname + "'";
    if (native_err != 0) ctx += " (native failed first: " + ErrnoName(native_err) + ")";
    ThrowErrno(env, fd, "bpf_link_create", ctx);
  }
  return NewLink(env, fd, static_cast<int>(ifindex), true);
}

Napi::Value XdpLink::OpenPinned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowErrno(env, fd, "bpf_obj_get", path);
  FdGuard guard(fd);
  // A link fd is labelled "bpf_link" when created but "bpf-link" when
  // re-opened from bpffs, so both spellings mean a link.
  std::string kind = BpfFdKind(fd);
  if (kind != "bpf_link" && kind != "bpf-link") ThrowErrno(env, EINVAL, "bpf_obj_get", path + " is not a BPF link");
  struct bpf_link_info li;
  std::memset(&li, 0, sizeof(li));
  uint32_t len = sizeof(li);
  int ret = bpf_obj_get_info_by_fd(fd, &li, &len);
  if (ret < 0) ThrowErrno(env, ret, "bpf_obj_get_info_by_fd", path);
  if (li.type != BPF_LINK_TYPE_XDP) ThrowErrno(env, EINVAL, "bpf_obj_get", path + " is not an XDP link");
  int ifindex = static_cast<int>(li.xdp.ifindex);
  // Link info carries no attach mode; the interface's netlink XDP state does,
  // and the link's program id tells which of its slots is ours.
  bool generic = false;
  if (ifindex != 0) {
    LIBBPF_OPTS(bpf_xdp_query_opts, q);
    if (bpf_xdp_query(ifindex, 0, &q) == 0 && q.skb_prog_id == li.prog_id && q.drv_prog_id != li.prog_id) {
      generic = true;
    }
  }
  return NewLink(env, guard.release(), ifindex, generic);
}

Napi::Value XdpLink::GetMode(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), generic_ ? "generic" : "native"); }
Napi::Value XdpLink::GetIfindex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ifindex_); }
Napi::Value XdpLink::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

Napi::Value XdpLink::Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) ThrowErrno(env, EBADF, "bpf_obj_pin", "link is closed");
  std::string path = StringArg(info, 0, "path");
  int ret = bpf_obj_pin(fd_, path.c_str());
  if (ret < 0) ThrowErrno(env, ret, "bpf_obj_pin", path);
  return env.Undefined();
}

// Replaces the link's program in place: the interface never runs without one,
// which is how a restarted or upgraded director keeps every flow.
Napi::Value XdpLink::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) ThrowErrno(env, EBADF, "bpf_link_update", "link is closed");
  int prog_fd = static_cast<int>(IntArg(info, 0, "progFd"));
  int ret = bpf_link_update(fd_, prog_fd, nullptr);
  if (ret < 0) ThrowErrno(env, ret, "bpf_link_update");
  return env.Undefined();
}

Napi::Value XdpLink::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) return env.Undefined();
  int ret = bpf_link_detach(fd_);
  // The fd is released whatever happened so detach() stays idempotent.
  close(fd_);
  fd_ = -1;
  if (ret < 0) ThrowErrno(env, ret, "bpf_link_detach");
  return env.Undefined();
}

Napi::Value XdpLink::Close(const Napi::CallbackInfo& info) {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  return info.Env().Undefined();
}

}  // namespace xlvs
