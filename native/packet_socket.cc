// SPDX-License-Identifier: Apache-2.0
// packet_socket.cc: PacketSocket, raw Ethernet frames in and out of one interface, with receives polled off the JS thread.
#include "packet_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "fd.h"
#include "promise_worker.h"

namespace xlvs {

namespace {

// Large enough for any frame on a jumbo-MTU link; a packet socket hands over
// one frame per recv, so a smaller buffer would silently cut frames short.
constexpr size_t kMaxFrame = 65536;

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Waits for one frame on a libuv worker so a probe's timeout never blocks the
// event loop; resolves with a Buffer, or null on timeout or close().
class RecvWorker : public PromiseWorker {
 public:
  RecvWorker(Napi::Env env, PacketSocket* owner, Napi::Object self, int fd, int wake_fd, int timeout_ms)
      : PromiseWorker(env, "xlvs:PacketSocket.recv"),
        owner_(owner),
        // Keeps the JS object (and so owner_ and its fds) alive until the worker is settled.
        self_(Napi::Persistent(self)),
        fd_(fd),
        wake_fd_(wake_fd),
        timeout_ms_(timeout_ms) {}

 protected:
  void Execute() override {
    const int64_t deadline = NowMs() + timeout_ms_;
    for (;;) {
      int64_t left = deadline - NowMs();
      if (left < 0) left = 0;
      struct pollfd pfd[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      int n = poll(pfd, 2, static_cast<int>(left));
      if (n < 0) {
        if (errno == EINTR) continue;
        err_.Set(errno, "poll");
        return;
      }
      if (n == 0 || (pfd[1].revents & POLLIN)) return;  // timed out, or close() was called
      if (pfd[0].revents & (POLLERR | POLLNVAL)) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &len);
        err_.Set(soerr != 0 ? soerr : EIO, "poll", "packet socket");
        return;
      }
      frame_.resize(kMaxFrame);
      struct sockaddr_ll from;
      socklen_t fromlen = sizeof(from);
      // Non-blocking: another receive on the same socket may have taken the frame poll announced.
      ssize_t got = recvfrom(fd_, frame_.data(), frame_.size(), MSG_DONTWAIT, reinterpret_cast<struct sockaddr*>(&from), &fromlen);
      if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        err_.Set(errno, "recvfrom", "packet socket");
        return;
      }
      // Kernels without PACKET_IGNORE_OUTGOING still loop our own frames back.
      if (from.sll_pkttype == PACKET_OUTGOING) continue;
      frame_.resize(static_cast<size_t>(got));
      have_frame_ = true;
      return;
    }
  }

  void Finished() override { owner_->RecvDone(); }

  Napi::Value Result(Napi::Env env) override {
    if (!have_frame_) return env.Null();
    return Napi::Buffer<uint8_t>::Copy(env, frame_.data(), frame_.size());
  }

 private:
  PacketSocket* owner_;
  Napi::ObjectReference self_;
  int fd_;
  int wake_fd_;
  int timeout_ms_;
  std::vector<uint8_t> frame_;
  bool have_frame_ = false;
};

}  // namespace

Napi::Function PacketSocket::Init(Napi::Env env) {
  return DefineClass(env, "PacketSocket",
                     {
                         InstanceAccessor<&PacketSocket::GetFd>("fd"),
                         InstanceAccessor<&PacketSocket::GetIfindex>("ifindex"),
                         InstanceMethod<&PacketSocket::Send>("send"),
                         InstanceMethod<&PacketSocket::Recv>("recv"),
                         InstanceMethod<&PacketSocket::Close>("close"),
                     });
}

PacketSocket::PacketSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketSocket>(info) {
  Napi::Env env = info.Env();
  int ifindex = static_cast<int>(IntArg(info, 0, "ifindex"));
  Napi::Object opts = OptObjectArg(info, 1, "options");
  int protocol = static_cast<int>(OptIntProp(opts, "protocol", ETH_P_ALL));
  std::vector<struct sock_filter> filter;
  Napi::Value fv = opts.Get("filter");
  if (!fv.IsUndefined() && !fv.IsNull()) {
    if (!fv.IsBuffer()) throw Napi::TypeError::New(env, "filter must be a Buffer of struct sock_filter");
    Napi::Buffer<uint8_t> fb = fv.As<Napi::Buffer<uint8_t>>();
    if (fb.Length() == 0 || fb.Length() % sizeof(struct sock_filter) != 0) {
      throw Napi::TypeError::New(env, "filter must hold a whole number of 8-byte instructions");
    }
    filter.resize(fb.Length() / sizeof(struct sock_filter));
    std::memcpy(filter.data(), fb.Data(), fb.Length());
  }

  // Protocol 0 receives nothing until bind(), so the filter is in place before
  // the first frame is queued: no unfiltered backlog to drain.
  FdGuard sock(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) ThrowErrno(env, errno, "socket", "AF_PACKET");
  int one = 1;
  // Only our probes' answers matter; our own frames would just be noise. Missing
  // on old kernels (ENOPROTOOPT), where the receive loop drops them instead.
  if (setsockopt(sock.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0 && errno != ENOPROTOOPT) {
    ThrowErrno(env, errno, "setsockopt", "PACKET_IGNORE_OUTGOING");
  }
  if (!filter.empty()) {
    struct sock_fprog prog;
    prog.len = static_cast<unsigned short>(filter.size());
    prog.filter = filter.data();
    if (setsockopt(sock.get(), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
      ThrowErrno(env, errno, "setsockopt", "SO_ATTACH_FILTER");
    }
  }
  struct sockaddr_ll addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(static_cast<uint16_t>(protocol));
  addr.sll_ifindex = ifindex;
  if (bind(sock.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) < 0) {
    ThrowErrno(env, errno, "bind", "AF_PACKET on ifindex " + std::to_string(ifindex));
  }
  FdGuard wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (wake.get() < 0) ThrowErrno(env, errno, "eventfd");
  fd_ = sock.release();
  wake_fd_ = wake.release();
  ifindex_ = ifindex;
}

PacketSocket::~PacketSocket() {
  // Workers hold a reference to the JS object, so none is running by now.
  if (fd_ >= 0) close(fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

Napi::Value PacketSocket::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), closed_ ? -1 : fd_); }

Napi::Value PacketSocket::GetIfindex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ifindex_); }

Napi::Value PacketSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) ThrowErrno(env, EBADF, "send", "packet socket is closed");
  Napi::Buffer<uint8_t> frame = BufferArg(info, 0, "frame");
  ssize_t n = send(fd_, frame.Data(), frame.Length(), 0);
  if (n < 0) ThrowErrno(env, errno, "send", "ifindex " + std::to_string(ifindex_));
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Value PacketSocket::Recv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) ThrowErrno(env, EBADF, "recvfrom", "packet socket is closed");
  int64_t timeout = IntArg(info, 0, "timeoutMs");
  if (timeout < 0) timeout = 0;
  if (timeout > 3600000) timeout = 3600000;
  auto* w = new RecvWorker(env, this, info.This().As<Napi::Object>(), fd_, wake_fd_, static_cast<int>(timeout));
  pending_++;
  return w->Start();
}

void PacketSocket::RecvDone() {
  pending_--;
  ReleaseIfIdle();
}

void PacketSocket::ReleaseIfIdle() {
  if (!closed_ || pending_ > 0) return;
  if (fd_ >= 0) close(fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  fd_ = -1;
  wake_fd_ = -1;
}

Napi::Value PacketSocket::Close(const Napi::CallbackInfo& info) {
  if (!closed_) {
    closed_ = true;
    if (pending_ > 0) {
      uint64_t one = 1;
      // Never read back, so it stays readable and wakes every pending worker.
      ssize_t ignored = write(wake_fd_, &one, sizeof(one));
      (void)ignored;
    }
    ReleaseIfIdle();
  }
  return info.Env().Undefined();
}

}  // namespace xlvs
