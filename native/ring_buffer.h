// SPDX-License-Identifier: Apache-2.0
// ring_buffer.h: RingBuffer, a JS handle reading one BPF ring buffer map through libbpf's ring_buffer.
#ifndef XLVS_NATIVE_RING_BUFFER_H
#define XLVS_NATIVE_RING_BUFFER_H

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <vector>

struct ring_buffer;

namespace xlvs {

// new RingBuffer(mapFd): the consumer side of a BPF_MAP_TYPE_RINGBUF map (the fd
// is duplicated, so the map's own handle may be closed first). poll(timeoutMs,
// maxBytes) resolves on a worker thread with one Buffer of concatenated records:
// empty when none came within timeoutMs or close() was called, else every record
// available until at least maxBytes are gathered (the last record is never cut).
class RingBuffer : public Napi::ObjectWrap<RingBuffer> {
 public:
  static Napi::Function Init(Napi::Env env);

  explicit RingBuffer(const Napi::CallbackInfo& info);
  ~RingBuffer() override;

  // On the JS thread, by a finished poll worker.
  void PollDone();

  // What the worker gathers; libbpf calls OnRecord from ring_buffer__consume on the worker thread.
  struct Gather {
    std::vector<uint8_t> out;
    size_t max_bytes = 0;
  };
  static int OnRecord(void* ctx, void* data, size_t size);

 private:
  Napi::Value Poll(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // Frees the ring and both fds once no poll worker can still use them.
  void ReleaseIfIdle();

  struct ring_buffer* rb_ = nullptr;
  int map_fd_ = -1;
  // eventfd that wakes a pending poll when close() is called, so close never waits out its timeout.
  int wake_fd_ = -1;
  Gather gather_;
  bool polling_ = false;
  bool closed_ = false;
};

}  // namespace xlvs

#endif  // XLVS_NATIVE_RING_BUFFER_H
