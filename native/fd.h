// SPDX-License-Identifier: Apache-2.0
// fd.h: small file-descriptor helpers shared by the handle classes.
#ifndef XLVS_NATIVE_FD_H
#define XLVS_NATIVE_FD_H

#include <unistd.h>

#include <cstdio>
#include <string>

namespace xlvs {

// The anon-inode name behind a BPF fd: "bpf-map", "bpf-prog", "bpf_link", ...
// bpf_obj_get() hands back whatever is pinned at a path, and the info syscall
// happily fills a map-info struct from a program, so the kind has to be checked
// this way before trusting it.
inline std::string BpfFdKind(int fd) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  char target[128];
  ssize_t n = readlink(path, target, sizeof(target) - 1);
  if (n < 0) return std::string();
  target[n] = '\0';
  static const char kPrefix[] = "anon_inode:";
  std::string t(target);
  if (t.compare(0, sizeof(kPrefix) - 1, kPrefix) != 0) return std::string();
  return t.substr(sizeof(kPrefix) - 1);
}

// Closes an fd on scope exit unless released.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

}  // namespace xlvs

#endif  // XLVS_NATIVE_FD_H
