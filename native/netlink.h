// SPDX-License-Identifier: Apache-2.0
// netlink.h: NeighSocket, a JS handle owning one rtnetlink socket on the IPv4 and IPv6 neighbour tables, and if_nametoindex(3).
#ifndef XLVS_NATIVE_NETLINK_H
#define XLVS_NATIVE_NETLINK_H

#include <napi.h>
#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace xlvs {

// new NeighSocket({ rcvbuf? }): an rtnetlink socket subscribed to neighbour
// changes. dump(ifindex?) -> the table now; read() -> the changes since,
// never blocking. Both report IPv4 (ARP) and IPv6 (NDP) entries.
class NeighSocket : public Napi::ObjectWrap<NeighSocket> {
 public:
  static Napi::Function Init(Napi::Env env);

  explicit NeighSocket(const Napi::CallbackInfo& info);
  ~NeighSocket() override;

  // One parsed neighbour message, or an overrun marker (defined in netlink.cc).
  struct Neigh;

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value Dump(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  void RequireOpen(Napi::Env env, const char* syscall);
  // One non-blocking receive: bytes read, 0 when nothing is pending, or -errno.
  ssize_t RecvOnce();
  // 0 with *out filled, or -errno with *syscall naming the call that failed;
  // -EINTR (NLM_F_DUMP_INTR: the table changed mid-dump) is worth a retry.
  int DumpOnce(int ifindex, std::vector<Neigh>* out, const char** syscall);

  int fd_ = -1;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
  std::vector<uint8_t> buf_;
  // Notifications that arrived in the middle of a dump, for the next read().
  std::vector<Neigh> pending_;
};

// ifNameToIndex(ifname): if_nametoindex(3) in this process's network namespace.
Napi::Value IfNameToIndex(const Napi::CallbackInfo& info);

}  // namespace xlvs

#endif  // XLVS_NATIVE_NETLINK_H
