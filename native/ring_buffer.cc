// SPDX-License-Identifier: Apache-2.0
// ring_buffer.cc: RingBuffer, draining a BPF ring buffer map (libbpf ring_buffer__new/consume/free) on a worker thread.
#include "ring_buffer.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "args.h"
#include "errors.h"
#include "fd.h"
#include "promise_worker.h"

namespace xlvs {

namespace {

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Drains what the ring holds, else waits for the producer (the ring's epoll fd)
// or close() (the eventfd) until the deadline.
class PollWorker : public PromiseWorker {
 public:
  PollWorker(Napi::Env env, RingBuffer* owner, Napi::Object self, struct ring_buffer* rb, RingBuffer::Gather* gather, int wake_fd, int timeout_ms)
      : PromiseWorker(env, "xlvs:RingBuffer.poll"),
        owner_(owner),
        // Keeps the JS object (and so owner_, its ring and fds) alive until the worker is settled.
        self_(Napi::Persistent(self)),
        rb_(rb),
        gather_(gather),
        wake_fd_(wake_fd),
        timeout_ms_(timeout_ms) {}

 protected:
  void Execute() override {
    const int64_t deadline = NowMs() + timeout_ms_;
    for (;;) {
      // OnRecord stops a drain (returning -1) once max_bytes are gathered: not an error.
      int n = ring_buffer__consume(rb_);
      if (n < 0 && gather_->out.size() < gather_->max_bytes) {
        err_.Set(n, "ring_buffer__consume");
        return;
      }
      if (!gather_->out.empty()) return;
      int64_t left = deadline - NowMs();
      if (left <= 0) return;
      struct pollfd pfd[2] = {{ring_buffer__epoll_fd(rb_), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      int r = poll(pfd, 2, static_cast<int>(left));
      if (r < 0) {
        if (errno == EINTR) continue;
        err_.Set(errno, "poll", "ring buffer");
        return;
      }
      if (r == 0 || (pfd[1].revents & POLLIN)) return;  // timed out, or close() was called
    }
  }

  void Finished() override { owner_->PollDone(); }

  Napi::Value Result(Napi::Env env) override { return Napi::Buffer<uint8_t>::Copy(env, gather_->out.data(), gather_->out.size()); }

 private:
  RingBuffer* owner_;
  Napi::ObjectReference self_;
  struct ring_buffer* rb_;
  RingBuffer::Gather* gather_;
  int wake_fd_;
  int timeout_ms_;
};

}  // namespace

Napi::Function RingBuffer::Init(Napi::Env env) {
  return DefineClass(env, "RingBuffer",
                     {
                         InstanceMethod<&RingBuffer::Poll>("poll"),
                         InstanceMethod<&RingBuffer::Close>("close"),
                     });
}

int RingBuffer::OnRecord(void* ctx, void* data, size_t size) {
  auto* g = static_cast<Gather*>(ctx);
  const auto* p = static_cast<const uint8_t*>(data);
  g->out.insert(g->out.end(), p, p + size);
  // libbpf has already consumed this record, so it is kept; stopping after it leaves the rest for the next poll.
  return g->out.size() >= g->max_bytes ? -1 : 0;
}

RingBuffer::RingBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingBuffer>(info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(IntArg(info, 0, "mapFd"));
  FdGuard map(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (map.get() < 0) ThrowErrno(env, errno, "fcntl", "F_DUPFD_CLOEXEC of map fd " + std::to_string(fd));
  FdGuard wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (wake.get() < 0) ThrowErrno(env, errno, "eventfd");
  struct ring_buffer* rb = ring_buffer__new(map.get(), &RingBuffer::OnRecord, &gather_, nullptr);
  if (rb == nullptr) ThrowErrno(env, errno, "ring_buffer__new", "map fd " + std::to_string(fd));
  rb_ = rb;
  map_fd_ = map.release();
  wake_fd_ = wake.release();
}

RingBuffer::~RingBuffer() {
  // A worker holds a reference to the JS object, so none is running by now.
  closed_ = true;
  polling_ = false;
  ReleaseIfIdle();
}

Napi::Value RingBuffer::Poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) ThrowErrno(env, EBADF, "ring_buffer__poll", "ring buffer is closed");
  // libbpf's consumer position is not shared safely between two drains.
  if (polling_) ThrowErrno(env, EBUSY, "ring_buffer__poll", "another poll of this ring buffer is in progress");
  int64_t timeout = IntArg(info, 0, "timeoutMs");
  int64_t max_bytes = IntArg(info, 1, "maxBytes");
  if (timeout < 0) timeout = 0;
  if (timeout > 3600000) timeout = 3600000;
  if (max_bytes < 1) max_bytes = 1;
  gather_.out.clear();
  gather_.max_bytes = static_cast<size_t>(max_bytes);
  auto* w = new PollWorker(env, this, info.This().As<Napi::Object>(), rb_, &gather_, wake_fd_, static_cast<int>(timeout));
  polling_ = true;
  return w->Start();
}

void RingBuffer::PollDone() {
  polling_ = false;
  ReleaseIfIdle();
}

void RingBuffer::ReleaseIfIdle() {
  if (!closed_ || polling_) return;
  if (rb_ != nullptr) ring_buffer__free(rb_);
  rb_ = nullptr;
  if (map_fd_ >= 0) close(map_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  map_fd_ = -1;
  wake_fd_ = -1;
}

Napi::Value RingBuffer::Close(const Napi::CallbackInfo& info) {
  if (!closed_) {
    closed_ = true;
    if (polling_) {
      uint64_t one = 1;
      // Never read back, so it stays readable and wakes the pending worker.
      ssize_t ignored = write(wake_fd_, &one, sizeof(one));
      (void)ignored;
    }
    ReleaseIfIdle();
  }
  return info.Env().Undefined();
}

}  // namespace xlvs
