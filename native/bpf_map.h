// SPDX-License-Identifier: Apache-2.0
// bpf_map.h: BpfMap, a JS handle owning one BPF map file descriptor.
#ifndef XLVS_NATIVE_BPF_MAP_H
#define XLVS_NATIVE_BPF_MAP_H

#include <napi.h>
#include <sys/mman.h>

#include <cstdint>
#include <string>

namespace xlvs {

// A mapping of some of an array map's values (none for zero bytes), unmapped when it goes out of scope, throws included.
class MappedValues {
 public:
  MappedValues(void* base, size_t len, uint8_t* at) : base_(base), len_(len), at_(at) {}
  MappedValues(const MappedValues&) = delete;
  MappedValues& operator=(const MappedValues&) = delete;
  ~MappedValues() {
    if (base_) munmap(base_, len_);
  }
  // The first requested byte.
  uint8_t* at() const { return at_; }

 private:
  void* base_;
  size_t len_;
  uint8_t* at_;
};

class BpfMap : public Napi::ObjectWrap<BpfMap> {
 public:
  static Napi::Function Init(Napi::Env env);
  // Wraps fd (taking ownership: it is closed even if this throws).
  static Napi::Object NewFromFd(Napi::Env env, int fd);

  explicit BpfMap(const Napi::CallbackInfo& info);
  ~BpfMap() override;

 private:
  static Napi::Value OpenPinned(const Napi::CallbackInfo& info);
  static Napi::Value FromId(const Napi::CallbackInfo& info);
  static Napi::Value Create(const Napi::CallbackInfo& info);

  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetId(const Napi::CallbackInfo& info);
  Napi::Value GetName(const Napi::CallbackInfo& info);
  Napi::Value GetType(const Napi::CallbackInfo& info);
  Napi::Value GetKeySize(const Napi::CallbackInfo& info);
  Napi::Value GetValueSize(const Napi::CallbackInfo& info);
  Napi::Value GetMaxEntries(const Napi::CallbackInfo& info);
  Napi::Value GetFlags(const Napi::CallbackInfo& info);
  Napi::Value GetPercpu(const Napi::CallbackInfo& info);
  Napi::Value GetValueBufSize(const Napi::CallbackInfo& info);

  Napi::Value Lookup(const Napi::CallbackInfo& info);
  Napi::Value Update(const Napi::CallbackInfo& info);
  Napi::Value Delete(const Napi::CallbackInfo& info);
  Napi::Value NextKey(const Napi::CallbackInfo& info);
  Napi::Value UpdateBatch(const Napi::CallbackInfo& info);
  Napi::Value DeleteBatch(const Napi::CallbackInfo& info);
  Napi::Value LookupBatch(const Napi::CallbackInfo& info);
  Napi::Value WriteMmap(const Napi::CallbackInfo& info);
  Napi::Value ReadMmap(const Napi::CallbackInfo& info);
  Napi::Value StoreMmapU32(const Napi::CallbackInfo& info);
  Napi::Value FreeKeysMmap(const Napi::CallbackInfo& info);
  MappedValues MapValues(Napi::Env env, size_t offset, size_t length);
  Napi::Value Pin(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // Throws the EBADF error shape for syscall if the map was closed.
  void CheckOpen(Napi::Env env, const char* syscall) const;
  // The key argument, checked to hold at least keySize bytes.
  const uint8_t* KeyArg(const Napi::CallbackInfo& info, size_t i) const;

  int fd_ = -1;
  uint32_t id_ = 0;
  std::string name_;
  uint32_t type_ = 0;
  uint32_t key_size_ = 0;
  uint32_t value_size_ = 0;
  uint32_t max_entries_ = 0;
  uint32_t flags_ = 0;
  bool percpu_ = false;
  size_t value_buf_size_ = 0;
};

}  // namespace xlvs

#endif  // XLVS_NATIVE_BPF_MAP_H
