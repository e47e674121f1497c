// SPDX-License-Identifier: Apache-2.0
// libbpf_log.cc: the libbpf print callback and the load-log capture behind it.
#include "libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace xlvs {

namespace {

std::mutex g_serial;  // held by the one capture in progress
std::mutex g_state;   // guards the fields below
bool g_active = false;
std::thread::id g_owner;
std::string g_buf;

int Print(enum libbpf_print_level level, const char* fmt, va_list ap) {
  char stack[1024];
  va_list ap2;
  va_copy(ap2, ap);
  int n = std::vsnprintf(stack, sizeof(stack), fmt, ap);
  std::string line;
  if (n < 0) {
    va_end(ap2);
    return 0;
  }
  if (static_cast<size_t>(n) < sizeof(stack)) {
    line.assign(stack, n);
  } else {
    // Verifier logs arrive as a single multi-megabyte message.
    line.resize(static_cast<size_t>(n) + 1);
    std::vsnprintf(&line[0], line.size(), fmt, ap2);  // NOLINT(clang-analyzer-valist.Uninitialized): va_copy of a va_list parameter is not modelled
    line.resize(static_cast<size_t>(n));
  }
  va_end(ap2);

  {
    std::lock_guard<std::mutex> lk(g_state);
    // Only the capturing thread's messages belong to its load; anything
    // printed concurrently by another thread is not part of that log.
    if (g_active && std::this_thread::get_id() == g_owner) g_buf += line;
  }
  // libbpf is chatty at INFO/DEBUG and warns about probing it handles itself,
  // so even warnings are opt-in.
  if (level == LIBBPF_WARN && std::getenv("XLVS_LIBBPF_DEBUG") != nullptr) {
    std::fputs(line.c_str(), stderr);
  }
  return 0;
}

}  // namespace

void InstallLibbpfPrint() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(Print); });
}

LibbpfCapture::LibbpfCapture() : serial_(g_serial) {
  std::lock_guard<std::mutex> lk(g_state);
  g_active = true;
  g_owner = std::this_thread::get_id();
  g_buf.clear();
}

LibbpfCapture::~LibbpfCapture() {
  std::lock_guard<std::mutex> lk(g_state);
  g_active = false;
  g_buf.clear();
  g_buf.shrink_to_fit();
}

std::string LibbpfCapture::Text() const {
  std::lock_guard<std::mutex> lk(g_state);
  return g_buf;
}

std::string ExtractVerifierLog(const std::string& captured) {
  static const std::string kBegin = "-- BEGIN PROG LOAD LOG --\n";
  static const std::string kEnd = "-- END PROG LOAD LOG --";
  std::string out;
  size_t pos = 0;
  for (;;) {
    size_t b = captured.find(kBegin, pos);
    if (b == std::string::npos) break;
    b += kBegin.size();
    size_t e = captured.find(kEnd, b);
    if (e == std::string::npos) e = captured.size();
    out.append(captured, b, e - b);
    pos = e;
  }
  return out.empty() ? captured : out;
}

std::string FailedProgramName(const std::string& captured) {
  static const std::string kFailed = "': BPF program load failed";
  static const std::string kProg = "prog '";
  size_t e = captured.find(kFailed);
  if (e == std::string::npos) return std::string();
  size_t b = captured.rfind(kProg, e);
  if (b == std::string::npos) return std::string();
  b += kProg.size();
  return captured.substr(b, e - b);
}

}  // namespace xlvs
