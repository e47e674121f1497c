// SPDX-License-Identifier: Apache-2.0
// libbpf_log.h: routes libbpf's print callback into a per-load capture buffer.
#ifndef XLVS_NATIVE_LIBBPF_LOG_H
#define XLVS_NATIVE_LIBBPF_LOG_H

#include <mutex>
#include <string>

namespace xlvs {

// Installs the print callback; libbpf's printer is process-global, so this is
// done once however many times (or in however many worker threads) the addon loads.
void InstallLibbpfPrint();

// While alive, everything libbpf prints from the constructing thread is
// appended to a buffer.  Captures are serialised: libbpf only has one printer,
// so two loads capturing at once could not tell their messages apart.
class LibbpfCapture {
 public:
  LibbpfCapture();
  ~LibbpfCapture();
  LibbpfCapture(const LibbpfCapture&) = delete;
  LibbpfCapture& operator=(const LibbpfCapture&) = delete;

  // Everything captured so far.
  std::string Text() const;

 private:
  std::unique_lock<std::mutex> serial_;
};

// The verifier log(s) inside captured text: libbpf wraps each one in
// "-- BEGIN PROG LOAD LOG --" / "-- END PROG LOAD LOG --".  Falls back to the
// whole capture when there is no such block (e.g. an ELF or BTF problem).
std::string ExtractVerifierLog(const std::string& captured);

// Name of the program whose load failed, from libbpf's
// "prog 'NAME': BPF program load failed" warning; empty if there is none.
std::string FailedProgramName(const std::string& captured);

}  // namespace xlvs

#endif  // XLVS_NATIVE_LIBBPF_LOG_H
