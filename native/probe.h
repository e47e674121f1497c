// SPDX-License-Identifier: Apache-2.0
// probe.h: kernel feature probes and program info (verifier statistics), for the load-time checks and status.
#ifndef XLVS_NATIVE_PROBE_H
#define XLVS_NATIVE_PROBE_H

#include <napi.h>

namespace xlvs {

// { progType(type), mapType(type), helper(progType, helperId), programs() }: each probe answers true or false.
Napi::Object ProbeExports(Napi::Env env);

// { id, name, type, verifiedInsns (null before 5.16), mapIds } of the program behind fd.
Napi::Object ProgramInfoOf(Napi::Env env, int fd);

}  // namespace xlvs

#endif  // XLVS_NATIVE_PROBE_H
