// SPDX-License-Identifier: Apache-2.0
// errors.h: the one JS error shape every failed libbpf call or syscall turns into.
#ifndef XLVS_NATIVE_ERRORS_H
#define XLVS_NATIVE_ERRORS_H

#include <napi.h>

#include <string>

namespace xlvs {

// Name for an errno value: 'ENOENT', 'ENOTSUPP', 'LIBBPF_ERRNO__VERIFY', ...
std::string ErrnoName(int err);

// Human text for an errno value, including libbpf's private 4000+ range.
std::string ErrnoText(int err);

// Error with message "<syscall>: <strerror> (<CODE>)[, <context>]" and
// .code/.errno/.syscall set; .log is set only when log is non-empty.
// err may be given with either sign: libbpf returns -errno, errno is positive.
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const std::string& context = std::string(), const std::string& log = std::string());

// Throws ErrnoError as a C++ exception (NAPI_CPP_EXCEPTIONS turns it into a JS throw).
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const std::string& syscall, const std::string& context = std::string());

// A failure captured off the JS thread, turned into an Error once back on it.
struct PendingError {
  int err = 0;
  std::string syscall;
  std::string context;
  std::string log;

  bool failed() const { return err != 0; }
  void Set(int e, std::string sc, std::string ctx = std::string()) {
    err = e < 0 ? -e : e;
    syscall = std::move(sc);
    context = std::move(ctx);
  }
  Napi::Error ToError(Napi::Env env) const { return ErrnoError(env, err, syscall, context, log); }
};

}  // namespace xlvs

#endif  // XLVS_NATIVE_ERRORS_H
