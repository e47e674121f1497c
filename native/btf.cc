// SPDX-License-Identifier: Apache-2.0
// btf.cc: a built object's struct layouts (its BTF) and maps, read off the ELF so codecs can be checked against the compiler.
#include "btf.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>

#include <memory>
#include <string>

#include "args.h"
#include "errors.h"
#include "libbpf_log.h"

namespace xlvs {

namespace {

struct BtfFree {
  void operator()(struct btf* b) const { btf__free(b); }
};
struct ObjectClose {
  void operator()(struct bpf_object* o) const { bpf_object__close(o); }
};

// The struct a key or value type names, through typedefs and qualifiers; nullptr for anything else.
const char* StructName(const struct btf* btf, uint32_t id) {
  const struct btf_type* t = id ? btf__type_by_id(btf, id) : nullptr;
  while (t != nullptr && (btf_is_typedef(t) || btf_is_mod(t))) t = btf__type_by_id(btf, t->type);
  if (t == nullptr || !btf_is_struct(t)) return nullptr;
  return btf__name_by_offset(btf, t->name_off);
}

Napi::Value TypeName(Napi::Env env, const struct btf* btf, uint32_t id) {
  const char* name = btf != nullptr ? StructName(btf, id) : nullptr;
  return name != nullptr ? Napi::Value(Napi::String::New(env, name)) : env.Null();
}

Napi::Object MapToJs(Napi::Env env, struct bpf_object* obj, struct bpf_map* m) {
  const struct btf* btf = bpf_object__btf(obj);
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", Napi::String::New(env, bpf_map__name(m)));
  o.Set("type", Napi::Number::New(env, bpf_map__type(m)));
  o.Set("keySize", Napi::Number::New(env, bpf_map__key_size(m)));
  o.Set("valueSize", Napi::Number::New(env, bpf_map__value_size(m)));
  o.Set("maxEntries", Napi::Number::New(env, bpf_map__max_entries(m)));
  o.Set("flags", Napi::Number::New(env, bpf_map__map_flags(m)));
  o.Set("keyType", TypeName(env, btf, bpf_map__btf_key_type_id(m)));
  o.Set("valueType", TypeName(env, btf, bpf_map__btf_value_type_id(m)));
  struct bpf_map* inner = bpf_map__inner_map(m);
  o.Set("inner", inner != nullptr ? Napi::Value(MapToJs(env, obj, inner)) : env.Null());
  return o;
}

}  // namespace

Napi::Value BtfStruct(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "objPath");
  std::string name = StringArg(info, 1, "name");
  std::unique_ptr<struct btf, BtfFree> btf(btf__parse(path.c_str(), nullptr));
  if (!btf) ThrowErrno(env, errno, "btf__parse", path);
  int32_t id = btf__find_by_name_kind(btf.get(), name.c_str(), BTF_KIND_STRUCT);
  if (id == -ENOENT) return env.Null();
  if (id < 0) ThrowErrno(env, id, "btf__find_by_name_kind", "struct " + name + " in " + path);
  const struct btf_type* t = btf__type_by_id(btf.get(), id);
  Napi::Array members = Napi::Array::New(env, btf_vlen(t));
  const struct btf_member* m = btf_members(t);
  for (uint32_t i = 0; i < btf_vlen(t); i++, m++) {
    int64_t size = btf__resolve_size(btf.get(), m->type);
    if (size < 0) ThrowErrno(env, static_cast<int>(size), "btf__resolve_size", "struct " + name + " member " + std::to_string(i));
    Napi::Object mo = Napi::Object::New(env);
    mo.Set("name", Napi::String::New(env, btf__name_by_offset(btf.get(), m->name_off)));
    mo.Set("offset_bits", Napi::Number::New(env, btf_member_bit_offset(t, i)));
    mo.Set("size", Napi::Number::New(env, static_cast<double>(size)));
    mo.Set("bitfield_bits", Napi::Number::New(env, btf_member_bitfield_size(t, i)));
    members.Set(i, mo);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", Napi::String::New(env, name));
  out.Set("size", Napi::Number::New(env, t->size));
  out.Set("members", members);
  return out;
}

Napi::Value ObjectMaps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "objPath");
  LibbpfCapture capture;
  // Opening parses the ELF and BTF only: nothing is created in the kernel until a load.
  std::unique_ptr<struct bpf_object, ObjectClose> obj(bpf_object__open_file(path.c_str(), nullptr));
  if (!obj) throw ErrnoError(env, errno, "bpf_object__open_file", path, capture.Text());
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  struct bpf_map* m;
  bpf_object__for_each_map(m, obj.get()) {
    // Sections of globals (.rodata, .bss) become maps libbpf makes, not ones the program declares.
    if (!bpf_map__is_internal(m)) out.Set(i++, MapToJs(env, obj.get(), m));
  }
  return out;
}

}  // namespace xlvs
