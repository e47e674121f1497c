// SPDX-License-Identifier: Apache-2.0
// netlink.cc: NeighSocket, the kernel's IPv4 (ARP) and IPv6 (NDP) neighbour tables over rtnetlink (one dump, then the change notifications).
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "fd.h"

namespace xlvs {

// Dumps and notifications parse into these first: the JS objects are made only
// once a whole dump is in, so a dump that has to be retried makes none.
struct NeighSocket::Neigh {
  bool overrun = false;  // not an entry: notifications were lost here
  bool del = false;
  int ifindex = 0;
  int family = AF_INET;   // AF_INET or AF_INET6
  uint8_t addr[16] = {};  // network byte order; the first 4 bytes for IPv4
  bool has_mac = false;
  std::vector<uint8_t> mac;
  int state = 0;
};

namespace {

using Neigh = NeighSocket::Neigh;

// The kernel sizes a dump's batches to the buffer the reader offered (up to
// 32 KiB), and a datagram larger than the buffer is cut short (MSG_TRUNC).
constexpr size_t kRecvBuf = 65536;
// A dump normally arrives at once (the kernel builds each batch as the previous
// one is read); the timeout only bounds a kernel that never answers.
constexpr int kDumpTimeoutMs = 5000;
// A dump the table changed under (NLM_F_DUMP_INTR) is simply retried; this
// many in a row means something is badly wrong.
constexpr int kDumpAttempts = 5;
// read() drains at most this many datagrams per call, so an event storm
// cannot hold the JS thread; the rest wait for the next call.
constexpr int kReadBatch = 256;

std::string FormatMac(const std::vector<uint8_t>& mac) {
  std::string s;
  char b[4];
  for (size_t i = 0; i < mac.size(); i++) {
    std::snprintf(b, sizeof(b), i ? ":%02x" : "%02x", mac[i]);
    s += b;
  }
  return s;
}

// Parses one RTM_NEWNEIGH/RTM_DELNEIGH; false for what the caller never
// wants: other families (bridge FDB entries share the group), proxy entries
// (no MAC, they make this host answer ARP or NDP) and malformed messages.
bool ParseNeigh(const struct nlmsghdr* nh, Neigh* out) {
  if (nh->nlmsg_type != RTM_NEWNEIGH && nh->nlmsg_type != RTM_DELNEIGH) return false;
  if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ndmsg))) return false;
  const auto* ndm = static_cast<const struct ndmsg*>(NLMSG_DATA(nh));
  if ((ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6) || (ndm->ndm_flags & NTF_PROXY)) return false;
  out->family = ndm->ndm_family;
  out->del = nh->nlmsg_type == RTM_DELNEIGH;
  out->ifindex = ndm->ndm_ifindex;
  out->state = ndm->ndm_state;
  out->has_mac = false;
  out->mac.clear();
  bool has_dst = false;
  int len = static_cast<int>(nh->nlmsg_len - NLMSG_LENGTH(sizeof(struct ndmsg)));
  for (const struct rtattr* a = reinterpret_cast<const struct rtattr*>(reinterpret_cast<const char*>(ndm) + NLMSG_ALIGN(sizeof(struct ndmsg))); RTA_OK(a, len);
       a = RTA_NEXT(a, len)) {
    const auto* p = static_cast<const uint8_t*>(RTA_DATA(a));
    size_t n = RTA_PAYLOAD(a);
    if (a->rta_type == NDA_DST && n == (out->family == AF_INET ? 4U : 16U)) {
      std::memcpy(out->addr, p, n);
      has_dst = true;
    } else if (a->rta_type == NDA_LLADDR && n > 0) {
      out->has_mac = true;
      out->mac.assign(p, p + n);
    }
  }
  return has_dst;
}

Napi::Object NeighToJs(Napi::Env env, const Neigh& n) {
  Napi::Object o = Napi::Object::New(env);
  if (n.overrun) {
    o.Set("overrun", Napi::Boolean::New(env, true));
    return o;
  }
  char ip[INET6_ADDRSTRLEN];
  inet_ntop(n.family, n.addr, ip, sizeof(ip));
  o.Set("type", Napi::String::New(env, n.del ? "del" : "new"));
  o.Set("ifindex", Napi::Number::New(env, n.ifindex));
  o.Set("family", Napi::Number::New(env, n.family == AF_INET6 ? 6 : 4));
  o.Set("address", Napi::String::New(env, ip));
  o.Set("mac", n.has_mac ? Napi::Value(Napi::String::New(env, FormatMac(n.mac))) : env.Null());
  o.Set("state", Napi::Number::New(env, n.state));
  return o;
}

}  // namespace

Napi::Function NeighSocket::Init(Napi::Env env) {
  return DefineClass(env, "NeighSocket",
                     {
                         InstanceAccessor<&NeighSocket::GetFd>("fd"),
                         InstanceMethod<&NeighSocket::Dump>("dump"),
                         InstanceMethod<&NeighSocket::Read>("read"),
                         InstanceMethod<&NeighSocket::Close>("close"),
                     });
}

NeighSocket::NeighSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NeighSocket>(info), buf_(kRecvBuf) {
  Napi::Env env = info.Env();
  Napi::Object opts = OptObjectArg(info, 0, "options");
  int64_t rcvbuf = OptIntProp(opts, "rcvbuf", 0);
  FdGuard sock(socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (sock.get() < 0) ThrowErrno(env, errno, "socket", "AF_NETLINK/NETLINK_ROUTE");
  if (rcvbuf > 0) {
    // The kernel caps it at net.core.rmem_max; a bigger buffer only makes overruns (and re-dumps) rarer.
    int v = rcvbuf > (1 << 30) ? (1 << 30) : static_cast<int>(rcvbuf);
    if (setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) < 0) ThrowErrno(env, errno, "setsockopt", "SO_RCVBUF");
  }
  struct sockaddr_nl sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_NEIGH;
  if (bind(sock.get(), reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) < 0) {
    ThrowErrno(env, errno, "bind", "NETLINK_ROUTE, RTMGRP_NEIGH");
  }
  socklen_t salen = sizeof(sa);
  // Dump replies are told apart from notifications by our port id.
  if (getsockname(sock.get(), reinterpret_cast<struct sockaddr*>(&sa), &salen) < 0) ThrowErrno(env, errno, "getsockname");
  portid_ = sa.nl_pid;
  fd_ = sock.release();
}

NeighSocket::~NeighSocket() {
  if (fd_ >= 0) close(fd_);
}

Napi::Value NeighSocket::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

void NeighSocket::RequireOpen(Napi::Env env, const char* syscall) {
  if (fd_ < 0) ThrowErrno(env, EBADF, syscall, "neighbour socket is closed");
}

ssize_t NeighSocket::RecvOnce() {
  for (;;) {
    struct iovec iov = {buf_.data(), buf_.size()};
    struct sockaddr_nl from;
    struct msghdr mh;
    std::memset(&mh, 0, sizeof(mh));
    mh.msg_name = &from;
    mh.msg_namelen = sizeof(from);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t n = recvmsg(fd_, &mh, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -errno;
    }
    if (mh.msg_flags & MSG_TRUNC) return -EMSGSIZE;
    // Only the kernel (port 0) speaks for the neighbour table.
    if (from.nl_pid != 0) continue;
    return n;
  }
}

Napi::Value NeighSocket::Dump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "sendto");
  int ifindex = static_cast<int>(OptIntArg(info, 0, "ifindex", 0));
  std::vector<Neigh> got;
  int err = 0;
  const char* syscall = "recvmsg";
  for (int attempt = 0; attempt < kDumpAttempts; attempt++) {
    err = DumpOnce(ifindex, &got, &syscall);
    if (err == 0) {
      Napi::Array out = Napi::Array::New(env, got.size());
      for (size_t i = 0; i < got.size(); i++) out.Set(static_cast<uint32_t>(i), NeighToJs(env, got[i]));
      return out;
    }
    if (err != -EINTR) break;
  }
  if (err == -EINTR) ThrowErrno(env, EINTR, "recvmsg", "RTM_GETNEIGH dump kept being interrupted by changes");
  ThrowErrno(env, err, syscall, "RTM_GETNEIGH dump");
}

int NeighSocket::DumpOnce(int ifindex, std::vector<Neigh>* out, const char** syscall) {
  *syscall = "recvmsg";
  out->clear();
  pending_.clear();
  // Whatever is queued predates the dump, which supersedes it. Reading it
  // also runs any dump an earlier failed call left half-read to its end, so
  // the kernel takes this one (it refuses a second concurrent dump).
  for (;;) {
    ssize_t n = RecvOnce();
    if (n == 0) break;
    if (n < 0 && n != -ENOBUFS) return static_cast<int>(n);
  }
  struct {
    struct nlmsghdr nh;
    struct ndmsg ndm;
    struct rtattr ifa;
    uint32_t ifindex;
  } req;
  std::memset(&req, 0, sizeof(req));
  uint32_t seq = ++seq_;
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
  req.nh.nlmsg_type = RTM_GETNEIGH;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = seq;
  // AF_UNSPEC: every neighbour table (ARP and NDP) in one dump; ParseNeigh keeps those two families.
  req.ndm.ndm_family = AF_UNSPEC;
  if (ifindex > 0) {
    // The kernel filters on NDA_IFINDEX (since 4.7); entries are checked again below for older ones.
    req.ifa.rta_type = NDA_IFINDEX;
    req.ifa.rta_len = RTA_LENGTH(sizeof(uint32_t));
    req.ifindex = static_cast<uint32_t>(ifindex);
    req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(req.ifa.rta_len);
  }
  struct sockaddr_nl kernel;
  std::memset(&kernel, 0, sizeof(kernel));
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    if (sendto(fd_, &req, req.nh.nlmsg_len, 0, reinterpret_cast<struct sockaddr*>(&kernel), sizeof(kernel)) >= 0) break;
    if (errno != EINTR) {
      *syscall = "sendto";
      return -errno;
    }
  }
  bool interrupted = false;
  bool lost = false;
  for (;;) {
    ssize_t n = RecvOnce();
    // Overruns only ever drop notifications: the kernel holds a dump's next
    // batch back until there is room for it.
    if (n == -ENOBUFS) {
      lost = true;
      continue;
    }
    if (n < 0) return static_cast<int>(n);
    if (n == 0) {
      struct pollfd pfd = {fd_, POLLIN, 0};
      int r = poll(&pfd, 1, kDumpTimeoutMs);
      if (r < 0 && errno != EINTR) {
        *syscall = "poll";
        return -errno;
      }
      if (r == 0) {
        *syscall = "poll";
        return -ETIMEDOUT;
      }
      continue;
    }
    int len = static_cast<int>(n);
    for (const struct nlmsghdr* nh = reinterpret_cast<const struct nlmsghdr*>(buf_.data()); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_pid != portid_ || nh->nlmsg_seq != seq) {
        // A notification interleaved with the replies may be newer than the
        // dump's view of its entry, so read() hands it over afterwards
        // (events carry whole entries: replaying an older one is harmless).
        Neigh ng;
        if (ParseNeigh(nh, &ng)) pending_.push_back(std::move(ng));
        continue;
      }
      if (nh->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
      if (nh->nlmsg_type == NLMSG_DONE) {
        if (interrupted) return -EINTR;
        if (lost) {
          Neigh marker;
          marker.overrun = true;
          pending_.push_back(std::move(marker));
        }
        return 0;
      }
      if (nh->nlmsg_type == NLMSG_ERROR) {
        if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) return -EPROTO;
        const auto* e = static_cast<const struct nlmsgerr*>(NLMSG_DATA(nh));
        return e->error ? e->error : -EPROTO;
      }
      Neigh ng;
      if (ParseNeigh(nh, &ng) && (ifindex <= 0 || ng.ifindex == ifindex)) out->push_back(std::move(ng));
    }
  }
}

Napi::Value NeighSocket::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "recvmsg");
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  for (const Neigh& ng : pending_) out.Set(k++, NeighToJs(env, ng));
  pending_.clear();
  for (int i = 0; i < kReadBatch; i++) {
    ssize_t n = RecvOnce();
    if (n == 0) break;
    if (n == -ENOBUFS) {
      // The kernel dropped notifications: only a fresh dump tells the truth now.
      Napi::Object o = Napi::Object::New(env);
      o.Set("overrun", Napi::Boolean::New(env, true));
      out.Set(k++, o);
      continue;
    }
    if (n < 0) ThrowErrno(env, static_cast<int>(n), "recvmsg", "neighbour notifications");
    int len = static_cast<int>(n);
    for (const struct nlmsghdr* nh = reinterpret_cast<const struct nlmsghdr*>(buf_.data()); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      Neigh ng;
      if (ParseNeigh(nh, &ng)) out.Set(k++, NeighToJs(env, ng));
    }
  }
  return out;
}

Napi::Value NeighSocket::Close(const Napi::CallbackInfo& info) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  pending_.clear();
  return info.Env().Undefined();
}

Napi::Value IfNameToIndex(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "ifname");
  unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) ThrowErrno(info.Env(), errno, "if_nametoindex", name);
  return Napi::Number::New(info.Env(), idx);
}

}  // namespace xlvs
