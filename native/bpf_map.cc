// SPDX-License-Identifier: Apache-2.0
// bpf_map.cc: BpfMap, element, batch and pinning operations on one BPF map fd (mapped access: bpf_map_mmap.cc).
#include "bpf_map.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "fd.h"

namespace xlvs {

namespace {

bool IsPercpuType(uint32_t type) {
  switch (type) {
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
      return true;
    default:
      return false;
  }
}

void CheckLen(Napi::Env env, size_t have, size_t need, const char* what) {
  if (have < need) {
    throw Napi::RangeError::New(env, std::string(what) + " is " + std::to_string(have) + " bytes, need " + std::to_string(need));
  }
}

}  // namespace

Napi::Function BpfMap::Init(Napi::Env env) {
  return DefineClass(env, "BpfMap",
                     {
                         StaticMethod<&BpfMap::OpenPinned>("openPinned"),
                         StaticMethod<&BpfMap::FromId>("fromId"),
                         StaticMethod<&BpfMap::Create>("create"),
                         InstanceAccessor<&BpfMap::GetFd>("fd"),
                         InstanceAccessor<&BpfMap::GetId>("id"),
                         InstanceAccessor<&BpfMap::GetName>("name"),
                         InstanceAccessor<&BpfMap::GetType>("type"),
                         InstanceAccessor<&BpfMap::GetKeySize>("keySize"),
                         InstanceAccessor<&BpfMap::GetValueSize>("valueSize"),
                         InstanceAccessor<&BpfMap::GetMaxEntries>("maxEntries"),
                         InstanceAccessor<&BpfMap::GetFlags>("flags"),
                         InstanceAccessor<&BpfMap::GetPercpu>("percpu"),
                         InstanceAccessor<&BpfMap::GetValueBufSize>("valueBufSize"),
                         InstanceMethod<&BpfMap::Lookup>("lookup"),
                         InstanceMethod<&BpfMap::Update>("update"),
                         InstanceMethod<&BpfMap::Delete>("delete"),
                         InstanceMethod<&BpfMap::NextKey>("nextKey"),
                         InstanceMethod<&BpfMap::UpdateBatch>("updateBatch"),
                         InstanceMethod<&BpfMap::DeleteBatch>("deleteBatch"),
                         InstanceMethod<&BpfMap::LookupBatch>("lookupBatch"),
                         InstanceMethod<&BpfMap::WriteMmap>("writeMmap"),
                         InstanceMethod<&BpfMap::ReadMmap>("readMmap"),
                         InstanceMethod<&BpfMap::StoreMmapU32>("storeMmapU32"),
                         InstanceMethod<&BpfMap::FreeKeysMmap>("freeKeysMmap"),
                         InstanceMethod<&BpfMap::Pin>("pin"),
                         InstanceMethod<&BpfMap::Close>("close"),
                     });
}

Napi::Object BpfMap::NewFromFd(Napi::Env env, int fd) {
  FdGuard guard(fd);
  Napi::Object obj = GetAddonData(env).bpfMap.New({Napi::External<FdGuard>::New(env, &guard)});
  return obj;
}

BpfMap::BpfMap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfMap>(info) {
  Napi::Env env = info.Env();
  // Only the static factories may construct: they pass the fd as an External
  // so plain JS cannot wrap an arbitrary number.
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(env, "use BpfMap.create(), BpfMap.openPinned() or BpfMap.fromId()");
  }
  FdGuard* guard = info[0].As<Napi::External<FdGuard>>().Data();
  struct bpf_map_info mi;
  std::memset(&mi, 0, sizeof(mi));
  uint32_t len = sizeof(mi);
  int ret = bpf_obj_get_info_by_fd(guard->get(), &mi, &len);
  if (ret < 0) ThrowErrno(env, ret, "bpf_obj_get_info_by_fd");
  fd_ = guard->release();
  id_ = mi.id;
  name_.assign(mi.name, strnlen(mi.name, sizeof(mi.name)));
  type_ = mi.type;
  key_size_ = mi.key_size;
  value_size_ = mi.value_size;
  max_entries_ = mi.max_entries;
  flags_ = mi.map_flags;
  percpu_ = IsPercpuType(type_);
  value_buf_size_ = value_size_;
  if (percpu_) {
    int ncpus = libbpf_num_possible_cpus();
    if (ncpus < 0) {
      close(fd_);
      fd_ = -1;
      ThrowErrno(env, ncpus, "libbpf_num_possible_cpus");
    }
    // The kernel copies each CPU's value into an 8-byte aligned slot.
    value_buf_size_ = ((static_cast<size_t>(value_size_) + 7) / 8) * 8 * static_cast<size_t>(ncpus);
  }
}

BpfMap::~BpfMap() {
  if (fd_ >= 0) close(fd_);
}

Napi::Value BpfMap::OpenPinned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowErrno(env, fd, "bpf_obj_get", path);
  FdGuard guard(fd);
  if (BpfFdKind(fd) != "bpf-map") ThrowErrno(env, EINVAL, "bpf_obj_get", path + " is not a BPF map");
  return NewFromFd(env, guard.release());
}

Napi::Value BpfMap::FromId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t id = IntArg(info, 0, "id");
  int fd = bpf_map_get_fd_by_id(static_cast<uint32_t>(id));
  if (fd < 0) ThrowErrno(env, fd, "bpf_map_get_fd_by_id", "id " + std::to_string(id));
  return NewFromFd(env, fd);
}

Napi::Value BpfMap::Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value nameV = o.Get("name");
  if (!nameV.IsString()) throw Napi::TypeError::New(env, "name must be a string");
  std::string name = nameV.As<Napi::String>().Utf8Value();
  LIBBPF_OPTS(bpf_map_create_opts, opts);
  opts.map_flags = static_cast<uint32_t>(OptIntProp(o, "flags", 0));
  opts.inner_map_fd = static_cast<uint32_t>(OptIntProp(o, "innerMapFd", 0));
  int fd = bpf_map_create(static_cast<enum bpf_map_type>(IntProp(o, "type")), name.c_str(), static_cast<uint32_t>(IntProp(o, "keySize")),
                          static_cast<uint32_t>(IntProp(o, "valueSize")), static_cast<uint32_t>(IntProp(o, "maxEntries")), &opts);
  if (fd < 0) ThrowErrno(env, fd, "bpf_map_create", "map '" + name + "'");
  return NewFromFd(env, fd);
}

Napi::Value BpfMap::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
Napi::Value BpfMap::GetId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }
Napi::Value BpfMap::GetName(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }
Napi::Value BpfMap::GetType(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), type_); }
Napi::Value BpfMap::GetKeySize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), key_size_); }
Napi::Value BpfMap::GetValueSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), value_size_); }
Napi::Value BpfMap::GetMaxEntries(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), max_entries_); }
Napi::Value BpfMap::GetFlags(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), flags_); }
Napi::Value BpfMap::GetPercpu(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), percpu_); }
Napi::Value BpfMap::GetValueBufSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(value_buf_size_)); }

void BpfMap::CheckOpen(Napi::Env env, const char* syscall) const {
  if (fd_ < 0) ThrowErrno(env, EBADF, syscall, "map '" + name_ + "' is closed");
}

const uint8_t* BpfMap::KeyArg(const Napi::CallbackInfo& info, size_t i) const {
  Napi::Buffer<uint8_t> key = BufferArg(info, i, "key");
  CheckLen(info.Env(), key.Length(), key_size_, "key");
  return key.Data();
}

Napi::Value BpfMap::Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "bpf_map_lookup_elem");
  const uint8_t* key = KeyArg(info, 0);
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, value_buf_size_);
  int ret = bpf_map_lookup_elem(fd_, key, out.Data());
  if (ret == -ENOENT) return env.Null();
  if (ret < 0) ThrowErrno(env, ret, "bpf_map_lookup_elem", "map '" + name_ + "'");
  return out;
}

Napi::Value BpfMap::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "bpf_map_update_elem");
  const uint8_t* key = KeyArg(info, 0);
  Napi::Buffer<uint8_t> value = BufferArg(info, 1, "value");
  CheckLen(env, value.Length(), value_buf_size_, "value");
  uint64_t flags = static_cast<uint64_t>(OptIntArg(info, 2, "flags", BPF_ANY));
  int ret = bpf_map_update_elem(fd_, key, value.Data(), flags);
  if (ret < 0) ThrowErrno(env, ret, "bpf_map_update_elem", "map '" + name_ + "'");
  return env.Undefined();
}

Napi::Value BpfMap::Delete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "bpf_map_delete_elem");
  const uint8_t* key = KeyArg(info, 0);
  int ret = bpf_map_delete_elem(fd_, key);
  if (ret == -ENOENT) return Napi::Boolean::New(env, false);
  if (ret < 0) ThrowErrno(env, ret, "bpf_map_delete_elem", "map '" + name_ + "'");
  return Napi::Boolean::New(env, true);
}

Napi::Value BpfMap::NextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "bpf_map_get_next_key");
  const uint8_t* key = nullptr;
  if (!info[0].IsNull() && !info[0].IsUndefined()) key = KeyArg(info, 0);
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, key_size_);
  int ret = bpf_map_get_next_key(fd_, key, out.Data());
  if (ret == -ENOENT) return env.Null();
  if (ret < 0) ThrowErrno(env, ret, "bpf_map_get_next_key", "map '" + name_ + "'");
  return out;
}

Napi::Value BpfMap::UpdateBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "bpf_map_update_batch");
  Napi::Buffer<uint8_t> keys = BufferArg(info, 0, "keys");
  Napi::Buffer<uint8_t> values = BufferArg(info, 1, "values");
  int64_t count = IntArg(info, 2, "count");
  if (count < 0 || count > UINT32_MAX) throw Napi::RangeError::New(env, "count out of range");
  CheckLen(env, keys.Length(), static_cast<size_t>(count) * key_size_, "keys");
  CheckLen(env, values.Length(), static_cast<size_t>(count) * value_buf_size_, "values");
  if (count == 0) return Napi::Number::New(env, 0);
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  opts.elem_flags = static_cast<uint64_t>(OptIntArg(info, 3, "flags", BPF_ANY));
  uint32_t n = static_cast<uint32_t>(count);
  int ret = bpf_map_update_batch(fd_, keys.Data(), values.Data(), &n, &opts);
  if (ret < 0) {
    ThrowErrno(env, ret, "bpf_map_update_batch",
               "map '" + name_ + "', " + std::to_string(ret == -EFAULT ? 0 : n) + " of " + std::to_string(count) + " updated");
  }
  return Napi::Number::New(env, n);
}

Napi::Value BpfMap::DeleteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "bpf_map_delete_batch");
  Napi::Buffer<uint8_t> keys = BufferArg(info, 0, "keys");
  int64_t count = IntArg(info, 1, "count");
  if (count < 0 || count > UINT32_MAX) throw Napi::RangeError::New(env, "count out of range");
  CheckLen(env, keys.Length(), static_cast<size_t>(count) * key_size_, "keys");
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  // The kernel stops at the first missing key; like delete() a missing key is
  // not an error, so step over it and carry on with the rest.
  uint32_t total = static_cast<uint32_t>(count);
  uint32_t off = 0;
  uint32_t deleted = 0;
  while (off < total) {
    uint32_t n = total - off;
    int ret = bpf_map_delete_batch(fd_, keys.Data() + static_cast<size_t>(off) * key_size_, &n, &opts);
    if (ret == 0) {
      deleted += total - off;
      break;
    }
    if (ret != -ENOENT) {
      ThrowErrno(env, ret, "bpf_map_delete_batch",
                 "map '" + name_ + "', " + std::to_string(deleted + (ret == -EFAULT ? 0 : n)) + " of " + std::to_string(count) + " deleted");
    }
    deleted += n;
    off += n + 1;
  }
  return Napi::Number::New(env, deleted);
}

Napi::Value BpfMap::LookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "bpf_map_lookup_batch");
  int64_t batch = OptIntArg(info, 0, "batchSize", 256);
  if (batch < 1 || batch > UINT32_MAX) throw Napi::RangeError::New(env, "batchSize out of range");

  // Hash maps use a 4-byte bucket cursor, other maps a whole key.
  size_t tok_size = std::max<size_t>(key_size_, 8);
  std::vector<uint8_t> in_tok(tok_size), out_tok(tok_size);
  std::vector<uint8_t> keys, values;
  size_t total = 0;
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    uint32_t n = static_cast<uint32_t>(batch);
    keys.resize((total + n) * key_size_);
    values.resize((total + n) * value_buf_size_);
    int ret = bpf_map_lookup_batch(fd_, first ? nullptr : in_tok.data(), out_tok.data(), keys.data() + total * key_size_,
                                   values.data() + total * value_buf_size_, &n, &opts);
    // A hash bucket holding more entries than fit in one batch is refused
    // outright rather than split, so retry that step with a bigger batch.
    if (ret == -ENOSPC && n == 0 && batch < (1 << 24)) {
      batch *= 2;
      continue;
    }
    if (ret < 0 && ret != -ENOENT) ThrowErrno(env, ret, "bpf_map_lookup_batch", "map '" + name_ + "'");
    total += n;
    if (ret == -ENOENT) break;  // the cursor walked off the end of the map
    in_tok.swap(out_tok);
    first = false;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), total * key_size_));
  result.Set("values", Napi::Buffer<uint8_t>::Copy(env, values.data(), total * value_buf_size_));
  result.Set("count", Napi::Number::New(env, static_cast<double>(total)));
  return result;
}

Napi::Value BpfMap::Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "bpf_obj_pin");
  std::string path = StringArg(info, 0, "path");
  int ret = bpf_obj_pin(fd_, path.c_str());
  if (ret < 0) ThrowErrno(env, ret, "bpf_obj_pin", path);
  return env.Undefined();
}

Napi::Value BpfMap::Close(const Napi::CallbackInfo& info) {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  return info.Env().Undefined();
}

}  // namespace xlvs
