// SPDX-License-Identifier: Apache-2.0
// bpf_map_mmap.cc: BpfMap's mapped access to BPF_F_MMAPABLE array maps: bulk reads and writes, atomic u32 stores, freeing ways.
#include "bpf_map.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "args.h"
#include "errors.h"

// ARRAY maps created with BPF_F_MMAPABLE, read and written through a mapping of the value area:
// filling a 65537-entry Maglev table element by element through the syscall takes milliseconds, a
// memcpy microseconds; the connection table is read whole and its entries written one at a time.
// The mapping lives only for the call (pages the call does not touch are never faulted in).

namespace xlvs {

// Maps only the pages holding values [offset, offset + length): the kernel fills a mapping of a vmalloc'ed array
// page by page when it is made, so mapping the whole 128 MiB connection table to read one 256-byte bucket cost
// milliseconds (a purge of 5,000 connections took a minute). Array maps store each value at a stride of
// round_up(value_size, 8); the kernel accepts a page offset into the values (array_map_mmap).
MappedValues BpfMap::MapValues(Napi::Env env, size_t offset, size_t length) {
  size_t total = ((static_cast<size_t>(value_size_) + 7) & ~static_cast<size_t>(7)) * max_entries_;
  if (offset > total || length > total - offset) throw Napi::RangeError::New(env, "offset and length reach past the end of the map");
  if (length == 0) return MappedValues(nullptr, 0, nullptr);
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t first = offset / page * page;
  size_t len = (offset + length - first + page - 1) / page * page;
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, static_cast<off_t>(first));
  if (p == MAP_FAILED) ThrowErrno(env, errno, "mmap", "map '" + name_ + "' (created without BPF_F_MMAPABLE?)");
  return MappedValues(p, len, static_cast<uint8_t*>(p) + (offset - first));
}

Napi::Value BpfMap::WriteMmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "mmap");
  Napi::Buffer<uint8_t> data = BufferArg(info, 0, "data");
  int64_t offset = OptIntArg(info, 1, "offset", 0);
  if (offset < 0) throw Napi::RangeError::New(env, "offset out of range");
  MappedValues m = MapValues(env, static_cast<size_t>(offset), data.Length());
  if (data.Length() > 0) std::memcpy(m.at(), data.Data(), data.Length());
  return env.Undefined();
}

Napi::Value BpfMap::ReadMmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "mmap");
  int64_t offset = OptIntArg(info, 0, "offset", 0);
  int64_t length = OptIntArg(info, 1, "length", 0);
  if (offset < 0 || length < 0) throw Napi::RangeError::New(env, "offset or length out of range");
  MappedValues m = MapValues(env, static_cast<size_t>(offset), static_cast<size_t>(length));
  if (length == 0) return Napi::Buffer<uint8_t>::New(env, 0);
  return Napi::Buffer<uint8_t>::Copy(env, m.at(), static_cast<size_t>(length));
}

// Stores u32 values at entry indices of a mapped array whose value_size is 4, each with one aligned 32-bit
// atomic store: a program reading an entry meanwhile sees its old value or its new one, never a torn mix
// (memcpy promises no such thing: `rep movsb` may store byte by byte). Every index is checked before the first store.
Napi::Value BpfMap::StoreMmapU32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "mmap");
  if (value_size_ != 4) throw Napi::TypeError::New(env, "storeMmapU32 needs a map with 4-byte values");
  Napi::Buffer<uint8_t> indices = BufferArg(info, 0, "indices");
  Napi::Buffer<uint8_t> values = BufferArg(info, 1, "values");
  if (indices.Length() % 4 != 0 || indices.Length() != values.Length()) throw Napi::RangeError::New(env, "indices and values must be u32 arrays of one length");
  size_t count = indices.Length() / 4;
  std::vector<uint32_t> idx(count), val(count);
  std::memcpy(idx.data(), indices.Data(), indices.Length());
  std::memcpy(val.data(), values.Data(), values.Length());
  for (uint32_t i : idx)
    if (i >= max_entries_) throw Napi::RangeError::New(env, "index past the end of the map");
  if (count == 0) return env.Undefined();
  // Array maps store each value at a stride of round_up(value_size, 8): 8 bytes here.
  auto [lo, hi] = std::minmax_element(idx.begin(), idx.end());
  MappedValues m = MapValues(env, static_cast<size_t>(*lo) * 8, (static_cast<size_t>(*hi) - *lo + 1) * 8);
  for (size_t k = 0; k < count; k++) {
    auto* slot = reinterpret_cast<uint32_t*>(m.at() + (static_cast<size_t>(idx[k]) - *lo) * 8);
    __atomic_store_n(slot, val[k], __ATOMIC_RELAXED);
  }
  return env.Undefined();
}

// Frees connection-table ways from user space the way the datapath frees and claims them: for each offset, if the
// key there still equals the expected one, its words after the first are zeroed and then its first word is swapped
// to zero by compare-and-swap (a way is held while that word is non-zero, and the datapath claims a way by swapping
// it), so a way a program claimed for another flow since the caller read it is left alone. One mapping covers every
// offset: a purge of 50,000 entries made 100,000 mappings one entry at a time. Returns how many ways were freed.
Napi::Value BpfMap::FreeKeysMmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "mmap");
  Napi::Buffer<uint8_t> offsets = BufferArg(info, 0, "offsets");
  Napi::Buffer<uint8_t> keys = BufferArg(info, 1, "keys");
  int64_t key_len = OptIntArg(info, 2, "keyLength", 0);
  if (key_len < 8 || key_len % 8 != 0) throw Napi::RangeError::New(env, "keyLength must be a positive multiple of 8");
  size_t klen = static_cast<size_t>(key_len);
  if (offsets.Length() % 8 != 0 || keys.Length() != offsets.Length() / 8 * klen)
    throw Napi::RangeError::New(env, "offsets must be u64s, keys keyLength bytes for each");
  size_t count = offsets.Length() / 8;
  std::vector<uint64_t> off(count);
  std::memcpy(off.data(), offsets.Data(), offsets.Length());
  for (uint64_t o : off)
    if (o % 8 != 0) throw Napi::RangeError::New(env, "offsets must be 8-byte aligned");
  if (count == 0) return Napi::Number::New(env, 0);
  auto [lo, hi] = std::minmax_element(off.begin(), off.end());
  MappedValues m = MapValues(env, *lo, static_cast<size_t>(*hi) - *lo + klen);
  double freed = 0;
  for (size_t k = 0; k < count; k++) {
    auto* way = reinterpret_cast<uint64_t*>(m.at() + (off[k] - *lo));
    const uint8_t* want = keys.Data() + k * klen;
    uint64_t first;
    std::memcpy(&first, want, 8);
    bool same = __atomic_load_n(way, __ATOMIC_RELAXED) == first;
    for (size_t w = 1; same && w < klen / 8; w++) same = std::memcmp(way + w, want + w * 8, 8) == 0;
    if (!same || first == 0) continue;
    for (size_t w = 1; w < klen / 8; w++) __atomic_store_n(way + w, 0, __ATOMIC_RELAXED);
    if (__atomic_compare_exchange_n(way, &first, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) freed++;
  }
  return Napi::Number::New(env, freed);
}

}  // namespace xlvs
