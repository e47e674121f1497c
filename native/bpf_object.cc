// SPDX-License-Identifier: Apache-2.0
// bpf_object.cc: BpfObject, opening and loading an ELF object off the JS thread and handing out its programs and maps.
#include "bpf_object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "addon.h"
#include "args.h"
#include "bpf_map.h"
#include "errors.h"
#include "libbpf_log.h"
#include "probe.h"
#include "promise_worker.h"

namespace xlvs {

namespace {

using NumberOpts = std::map<std::string, uint32_t>;
using StringOpts = std::map<std::string, std::string>;
using NameList = std::vector<std::string>;

// { [name]: value } option records, each value converted by `conv` (which throws a TypeError naming it).
template <typename T, typename Conv>
std::map<std::string, T> ReadRecord(Napi::Object opts, const char* key, Conv conv) {
  std::map<std::string, T> out;
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsObject()) throw Napi::TypeError::New(opts.Env(), std::string(key) + " must be an object");
  Napi::Object rec = v.As<Napi::Object>();
  Napi::Array names = rec.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); i++) {
    std::string name = names.Get(i).ToString().Utf8Value();
    out[name] = conv(rec.Get(name), std::string(key) + "." + name);
  }
  return out;
}

StringOpts ReadStringRecord(Napi::Object opts, const char* key) {
  return ReadRecord<std::string>(opts, key, [&](Napi::Value pv, const std::string& what) {
    if (!pv.IsString()) throw Napi::TypeError::New(opts.Env(), what + " must be a string");
    return pv.As<Napi::String>().Utf8Value();
  });
}

NumberOpts ReadNumberRecord(Napi::Object opts, const char* key) {
  return ReadRecord<uint32_t>(opts, key, [&](Napi::Value pv, const std::string&) { return static_cast<uint32_t>(NumberValue(opts.Env(), pv, key)); });
}

NameList ReadNameList(Napi::Object opts, const char* key) {
  NameList out;
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) throw Napi::TypeError::New(opts.Env(), std::string(key) + " must be an array");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    if (!a.Get(i).IsString()) throw Napi::TypeError::New(opts.Env(), std::string(key) + " must hold strings");
    out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  }
  return out;
}

// bpf_map__reuse_fd adopts whatever the fd is, so a pinned map from an older
// build with another layout would be silently handed to programs compiled for
// the new one; compare what the object declares (after mapMaxEntries/mapFlags)
// with the pinned map first. Returns an empty string when they match.
std::string ReuseMismatch(struct bpf_map* m, int fd) {
  struct bpf_map_info info;
  memset(&info, 0, sizeof(info));
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) return "cannot read its info";
  auto diff = [](const char* what, uint32_t want, uint32_t have) {
    return std::string(what) + " " + std::to_string(have) + ", the object wants " + std::to_string(want);
  };
  if (info.type != static_cast<uint32_t>(bpf_map__type(m))) return diff("type", bpf_map__type(m), info.type);
  if (info.key_size != bpf_map__key_size(m)) return diff("key size", bpf_map__key_size(m), info.key_size);
  if (info.value_size != bpf_map__value_size(m)) return diff("value size", bpf_map__value_size(m), info.value_size);
  if (info.max_entries != bpf_map__max_entries(m)) return diff("max_entries", bpf_map__max_entries(m), info.max_entries);
  if (info.map_flags != bpf_map__map_flags(m)) return diff("flags", bpf_map__map_flags(m), info.map_flags);
  return "";
}

// Opens and loads on a libuv worker: program loads run the verifier, which can
// take seconds for a large datapath.
class OpenWorker : public PromiseWorker {
 public:
  OpenWorker(Napi::Env env, std::string path, NumberOpts max_entries, NumberOpts flags, StringOpts reuse, NameList programs)
      : PromiseWorker(env, "xlvs:BpfObject.open"),
        path_(std::move(path)),
        max_entries_(std::move(max_entries)),
        flags_(std::move(flags)),
        reuse_(std::move(reuse)),
        programs_(std::move(programs)) {}

  ~OpenWorker() override {
    // Only set if the promise was never settled with it (env teardown).
    if (obj_ != nullptr) bpf_object__close(obj_);
  }

 protected:
  void Execute() override {
    LibbpfCapture capture;
    struct bpf_object* obj = bpf_object__open_file(path_.c_str(), nullptr);
    if (obj == nullptr) {
      err_.Set(errno, "bpf_object__open_file", path_);
      err_.log = capture.Text();
      return;
    }
    for (const auto& kv : max_entries_) {
      struct bpf_map* m = bpf_object__find_map_by_name(obj, kv.first.c_str());
      if (m == nullptr) {
        err_.Set(ENOENT, "bpf_object__find_map_by_name", "mapMaxEntries: no map '" + kv.first + "' in " + path_);
        bpf_object__close(obj);
        return;
      }
      int ret = bpf_map__set_max_entries(m, kv.second);
      if (ret < 0) {
        err_.Set(ret, "bpf_map__set_max_entries", "map '" + kv.first + "'");
        bpf_object__close(obj);
        return;
      }
    }
    for (const auto& kv : flags_) {
      struct bpf_map* m = bpf_object__find_map_by_name(obj, kv.first.c_str());
      if (m == nullptr) {
        err_.Set(ENOENT, "bpf_object__find_map_by_name", "mapFlags: no map '" + kv.first + "' in " + path_);
        bpf_object__close(obj);
        return;
      }
      // OR'd so flags the object declares (e.g. BPF_F_NO_PREALLOC) survive.
      int ret = bpf_map__set_map_flags(m, bpf_map__map_flags(m) | kv.second);
      if (ret < 0) {
        err_.Set(ret, "bpf_map__set_map_flags", "map '" + kv.first + "'");
        bpf_object__close(obj);
        return;
      }
    }
    // Only the programs asked for are loaded (a probe object holds one program per feature).
    if (!programs_.empty()) {
      struct bpf_program* prog;
      bpf_object__for_each_program(prog, obj) {
        bool want = false;
        for (const auto& n : programs_) want = want || n == bpf_program__name(prog);
        bpf_program__set_autoload(prog, want);
      }
    }
    // After sizes and flags, so the compatibility check compares with what
    // this load would otherwise have created.
    for (const auto& kv : reuse_) {
      struct bpf_map* m = bpf_object__find_map_by_name(obj, kv.first.c_str());
      if (m == nullptr) {
        err_.Set(ENOENT, "bpf_object__find_map_by_name", "reuseMaps: no map '" + kv.first + "' in " + path_);
        bpf_object__close(obj);
        return;
      }
      int fd = bpf_obj_get(kv.second.c_str());
      if (fd < 0) {
        err_.Set(fd, "bpf_obj_get", "reuseMaps: map '" + kv.first + "' pinned at " + kv.second);
        bpf_object__close(obj);
        return;
      }
      std::string mismatch = ReuseMismatch(m, fd);
      if (!mismatch.empty()) {
        close(fd);
        err_.Set(EINVAL, "bpf_map__reuse_fd", "map '" + kv.first + "' pinned at " + kv.second + " has " + mismatch);
        bpf_object__close(obj);
        return;
      }
      // reuse_fd dups the fd, so ours is closed either way.
      int ret = bpf_map__reuse_fd(m, fd);
      close(fd);
      if (ret < 0) {
        err_.Set(ret, "bpf_map__reuse_fd", "map '" + kv.first + "' pinned at " + kv.second);
        bpf_object__close(obj);
        return;
      }
    }
    int ret = bpf_object__load(obj);
    if (ret < 0) {
      std::string captured = capture.Text();
      std::string prog = FailedProgramName(captured);
      err_.Set(ret, "bpf_object__load", prog.empty() ? path_ : path_ + ", program '" + prog + "'");
      err_.log = ExtractVerifierLog(captured);
      bpf_object__close(obj);
      return;
    }
    obj_ = obj;
  }

  Napi::Value Result(Napi::Env env) override {
    // NewFromObject owns it from here, closing it if the wrapper cannot be made.
    struct bpf_object* obj = obj_;
    obj_ = nullptr;
    return BpfObject::NewFromObject(env, obj);
  }

 private:
  std::string path_;
  NumberOpts max_entries_;
  NumberOpts flags_;
  StringOpts reuse_;
  NameList programs_;
  struct bpf_object* obj_ = nullptr;
};

}  // namespace

Napi::Function BpfObject::Init(Napi::Env env) {
  return DefineClass(env, "BpfObject",
                     {
                         StaticMethod<&BpfObject::Open>("open"),
                         InstanceMethod<&BpfObject::ProgramNames>("programNames"),
                         InstanceMethod<&BpfObject::ProgramFd>("programFd"),
                         InstanceMethod<&BpfObject::ProgramInfo>("programInfo"),
                         InstanceMethod<&BpfObject::MapNames>("mapNames"),
                         InstanceMethod<&BpfObject::Map>("map"),
                         InstanceMethod<&BpfObject::Close>("close"),
                     });
}

Napi::Object BpfObject::NewFromObject(Napi::Env env, struct bpf_object* obj) {
  // The External carries ownership into the constructor; if construction
  // never takes it, it is closed here.
  struct bpf_object* holder = obj;
  try {
    Napi::Object o = GetAddonData(env).bpfObject.New({Napi::External<struct bpf_object*>::New(env, &holder)});
    return o;
  } catch (...) {
    if (holder != nullptr) bpf_object__close(holder);
    throw;
  }
}

BpfObject::BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "use BpfObject.open()");
  }
  struct bpf_object** holder = info[0].As<Napi::External<struct bpf_object*>>().Data();
  obj_ = *holder;
  *holder = nullptr;
}

BpfObject::~BpfObject() {
  if (obj_ != nullptr) bpf_object__close(obj_);
}

Napi::Value BpfObject::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "path");
  Napi::Object opts = OptObjectArg(info, 1, "opts");
  auto* w = new OpenWorker(env, path, ReadNumberRecord(opts, "mapMaxEntries"), ReadNumberRecord(opts, "mapFlags"), ReadStringRecord(opts, "reuseMaps"),
                           ReadNameList(opts, "programs"));
  return w->Start();
}

void BpfObject::CheckOpen(Napi::Env env, const char* what) const {
  if (obj_ == nullptr) ThrowErrno(env, EBADF, what, "object is closed");
}

Napi::Value BpfObject::ProgramNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "bpf_object__next_program");
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, obj_) { out.Set(i++, Napi::String::New(env, bpf_program__name(prog))); }
  return out;
}

Napi::Value BpfObject::ProgramFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "bpf_object__find_program_by_name");
  std::string name = StringArg(info, 0, "name");
  struct bpf_program* prog = bpf_object__find_program_by_name(obj_, name.c_str());
  if (prog == nullptr) ThrowErrno(env, ENOENT, "bpf_object__find_program_by_name", "no program '" + name + "'");
  int fd = bpf_program__fd(prog);
  // Programs marked not-to-autoload have no fd.
  if (fd < 0) ThrowErrno(env, fd, "bpf_program__fd", "program '" + name + "' is not loaded");
  return Napi::Number::New(env, fd);
}

Napi::Value BpfObject::ProgramInfo(const Napi::CallbackInfo& info) {
  Napi::Value fd = ProgramFd(info);
  return ProgramInfoOf(info.Env(), fd.As<Napi::Number>().Int32Value());
}

Napi::Value BpfObject::MapNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "bpf_object__next_map");
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  struct bpf_map* m;
  bpf_object__for_each_map(m, obj_) { out.Set(i++, Napi::String::New(env, bpf_map__name(m))); }
  return out;
}

Napi::Value BpfObject::Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "bpf_object__find_map_by_name");
  std::string name = StringArg(info, 0, "name");
  struct bpf_map* m = bpf_object__find_map_by_name(obj_, name.c_str());
  if (m == nullptr) ThrowErrno(env, ENOENT, "bpf_object__find_map_by_name", "no map '" + name + "'");
  int fd = bpf_map__fd(m);
  if (fd < 0) ThrowErrno(env, fd, "bpf_map__fd", "map '" + name + "' was not created");
  // A separate fd lets the BpfMap outlive close() of the object (and vice versa).
  int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (dupfd < 0) ThrowErrno(env, errno, "fcntl", "F_DUPFD_CLOEXEC of map '" + name + "'");
  return BpfMap::NewFromFd(env, dupfd);
}

Napi::Value BpfObject::Close(const Napi::CallbackInfo& info) {
  if (obj_ != nullptr) {
    bpf_object__close(obj_);
    obj_ = nullptr;
  }
  return info.Env().Undefined();
}

}  // namespace xlvs
