// SPDX-License-Identifier: Apache-2.0
// args.h: minimal argument type checks; real validation lives in the TypeScript callers.
#ifndef XLVS_NATIVE_ARGS_H
#define XLVS_NATIVE_ARGS_H

#include <napi.h>

#include <cstdint>
#include <string>

namespace xlvs {

// These only guard against crashing (e.g. reading past a Buffer); messages
// are terse because callers are supposed to have validated already.

inline Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsBuffer()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

inline std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline double NumberValue(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

inline int64_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* what) { return static_cast<int64_t>(NumberValue(info.Env(), info[i], what)); }

// Optional numeric argument: undefined/null give def.
inline int64_t OptIntArg(const Napi::CallbackInfo& info, size_t i, const char* what, int64_t def) {
  if (info[i].IsUndefined() || info[i].IsNull()) return def;
  return IntArg(info, i, what);
}

// Optional numeric property of an options object.
inline int64_t OptIntProp(Napi::Object o, const char* key, int64_t def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return def;
  return static_cast<int64_t>(NumberValue(o.Env(), v, key));
}

inline int64_t IntProp(Napi::Object o, const char* key) { return static_cast<int64_t>(NumberValue(o.Env(), o.Get(key), key)); }

inline Napi::Object OptObjectArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info[i].IsUndefined() || info[i].IsNull()) return Napi::Object::New(info.Env());
  if (!info[i].IsObject()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be an object");
  return info[i].As<Napi::Object>();
}

}  // namespace xlvs

#endif  // XLVS_NATIVE_ARGS_H
