// SPDX-License-Identifier: Apache-2.0
// errors.cc: errno to JS Error conversion shared by every native class.
#include "errors.h"

#include <bpf/libbpf.h>
#include <uv.h>

#include <cstdio>
#include <cstring>

namespace xlvs {

namespace {

// ENOTSUPP is kernel-internal (not in <errno.h>) but leaks out of bpf(2) for
// unsupported map operations, so neither libuv nor glibc has a name for it.
constexpr int kKernelENOTSUPP = 524;

const char* const kLibbpfNames[] = {
    "LIBBPF_ERRNO__LIBELF",   "LIBBPF_ERRNO__FORMAT",  "LIBBPF_ERRNO__KVERSION", "LIBBPF_ERRNO__ENDIAN",   "LIBBPF_ERRNO__INTERNAL",
    "LIBBPF_ERRNO__RELOC",    "LIBBPF_ERRNO__LOAD",    "LIBBPF_ERRNO__VERIFY",   "LIBBPF_ERRNO__PROG2BIG", "LIBBPF_ERRNO__KVER",
    "LIBBPF_ERRNO__PROGTYPE", "LIBBPF_ERRNO__WRNGPID", "LIBBPF_ERRNO__INVSEQ",   "LIBBPF_ERRNO__NLPARSE",
};

bool IsLibbpfErrno(int err) { return err >= __LIBBPF_ERRNO__START && err < __LIBBPF_ERRNO__END; }

}  // namespace

std::string ErrnoName(int err) {
  if (err < 0) err = -err;
  if (err == kKernelENOTSUPP) return "ENOTSUPP";
  if (IsLibbpfErrno(err)) return kLibbpfNames[err - __LIBBPF_ERRNO__START];
  // uv_err_name() strdup()s (and leaks) a string for codes it does not know;
  // the _r variant writes into our buffer instead.
  char buf[64];
  uv_err_name_r(-err, buf, sizeof(buf));
  if (std::strncmp(buf, "Unknown", 7) != 0) return buf;
  if (const char* n = strerrorname_np(err)) return n;
  return "E" + std::to_string(err);
}

std::string ErrnoText(int err) {
  if (err < 0) err = -err;
  if (err == kKernelENOTSUPP) return "Operation not supported";
  char buf[256];
  if (IsLibbpfErrno(err)) {
    libbpf_strerror(err, buf, sizeof(buf));
    return buf;
  }
  // GNU strerror_r returns a pointer that may or may not be buf.
  return strerror_r(err, buf, sizeof(buf));
}

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const std::string& context, const std::string& log) {
  if (err < 0) err = -err;
  // A failing call that left errno at 0 would otherwise produce "Success".
  if (err == 0) err = EIO;
  std::string code = ErrnoName(err);
  std::string msg = syscall + ": " + ErrnoText(err) + " (" + code + ")";
  if (!context.empty()) msg += ", " + context;
  Napi::Error e = Napi::Error::New(env, msg);
  Napi::Object o = e.Value();
  o.Set("code", Napi::String::New(env, code));
  o.Set("errno", Napi::Number::New(env, err));
  o.Set("syscall", Napi::String::New(env, syscall));
  if (!log.empty()) o.Set("log", Napi::String::New(env, log));
  return e;
}

void ThrowErrno(Napi::Env env, int err, const std::string& syscall, const std::string& context) { throw ErrnoError(env, err, syscall, context); }

}  // namespace xlvs
