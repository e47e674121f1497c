// SPDX-License-Identifier: Apache-2.0
// packet_socket.h: PacketSocket, a JS handle owning one AF_PACKET raw socket bound to an interface (for the doctor's probes).
#ifndef XLVS_NATIVE_PACKET_SOCKET_H
#define XLVS_NATIVE_PACKET_SOCKET_H

#include <napi.h>

namespace xlvs {

// new PacketSocket(ifindex, { protocol?, filter? }): frames of one ethertype
// (default ETH_P_ALL) on one interface, optionally narrowed by a classic BPF
// program; frames this host sends are never handed back.
class PacketSocket : public Napi::ObjectWrap<PacketSocket> {
 public:
  static Napi::Function Init(Napi::Env env);

  explicit PacketSocket(const Napi::CallbackInfo& info);
  ~PacketSocket() override;

  // Called on the JS thread by a finished receive worker.
  void RecvDone();

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetIfindex(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Recv(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // Closes both fds once no receive worker can still be polling them.
  void ReleaseIfIdle();

  int fd_ = -1;
  // eventfd that wakes pending receive workers when close() is called, so a
  // close never waits out their timeouts and never closes an fd under a poll.
  int wake_fd_ = -1;
  int ifindex_ = 0;
  int pending_ = 0;
  bool closed_ = false;
};

}  // namespace xlvs

#endif  // XLVS_NATIVE_PACKET_SOCKET_H
