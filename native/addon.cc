// SPDX-License-Identifier: Apache-2.0
// addon.cc: module entry point wiring the classes and helpers into build/Release/xlvs_native.node.
#include <bpf/libbpf.h>

#include "addon.h"
#include "bpf_map.h"
#include "bpf_object.h"
#include "btf.h"
#include "errors.h"
#include "libbpf_log.h"
#include "netlink.h"
#include "packet_socket.h"
#include "probe.h"
#include "ring_buffer.h"
#include "xdp_link.h"

namespace xlvs {

namespace {

Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) ThrowErrno(info.Env(), n, "libbpf_num_possible_cpus");
  return Napi::Number::New(info.Env(), n);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrint();
  auto* data = new AddonData();
  env.SetInstanceData(data);

  Napi::Function bpfMap = BpfMap::Init(env);
  data->bpfMap = Napi::Persistent(bpfMap);
  Napi::Function bpfObject = BpfObject::Init(env);
  data->bpfObject = Napi::Persistent(bpfObject);
  Napi::Function xdpLink = XdpLink::Init(env);
  data->xdpLink = Napi::Persistent(xdpLink);

  exports.Set("probe", ProbeExports(env));
  exports.Set("numPossibleCpus", Napi::Function::New<NumPossibleCpus>(env, "numPossibleCpus"));
  exports.Set("BpfObject", bpfObject);
  exports.Set("BpfMap", bpfMap);
  exports.Set("XdpLink", xdpLink);
  exports.Set("PacketSocket", PacketSocket::Init(env));
  exports.Set("RingBuffer", RingBuffer::Init(env));
  exports.Set("testRun", Napi::Function::New<TestRun>(env, "testRun"));
  exports.Set("testRunSync", Napi::Function::New<TestRunSync>(env, "testRunSync"));
  exports.Set("NeighSocket", NeighSocket::Init(env));
  exports.Set("ifNameToIndex", Napi::Function::New<IfNameToIndex>(env, "ifNameToIndex"));
  exports.Set("btfStruct", Napi::Function::New<BtfStruct>(env, "btfStruct"));
  exports.Set("objectMaps", Napi::Function::New<ObjectMaps>(env, "objectMaps"));
  return exports;
}

}  // namespace

}  // namespace xlvs

// NODE_API_MODULE pastes the name into an identifier, so it cannot be qualified.
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return xlvs::Init(env, exports); }

NODE_API_MODULE(xlvs_native, InitModule)
