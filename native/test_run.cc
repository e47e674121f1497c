// SPDX-License-Identifier: Apache-2.0
// test_run.cc: testRun(), BPF_PROG_TEST_RUN of an XDP program on a worker thread, and testRunSync() on the JS thread.
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>

#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "promise_worker.h"

namespace xlvs {

namespace {

// XDP programs may grow the frame with bpf_xdp_adjust_head/tail.
constexpr size_t kDataOutSlack = 256;

class TestRunWorker : public PromiseWorker {
 public:
  TestRunWorker(Napi::Env env, int prog_fd, std::vector<uint8_t> data, int repeat, bool live, uint32_t batch_size, uint32_t ingress_ifindex)
      : PromiseWorker(env, "xlvs:testRun"),
        prog_fd_(prog_fd),
        data_(std::move(data)),
        repeat_(repeat),
        live_(live),
        batch_size_(batch_size),
        ingress_ifindex_(ingress_ifindex) {}

 protected:
  void Execute() override {
    struct xdp_md ctx;
    std::memset(&ctx, 0, sizeof(ctx));
    // The kernel insists data_end equals the frame length and data/data_meta
    // are 0 when a context is passed.
    ctx.data_end = static_cast<uint32_t>(data_.size());
    ctx.ingress_ifindex = ingress_ifindex_;

    LIBBPF_OPTS(bpf_test_run_opts, opts);
    opts.data_in = data_.data();
    opts.data_size_in = static_cast<uint32_t>(data_.size());
    opts.repeat = repeat_;
    if (live_) {
      // Live frames are really transmitted (XDP_TX / XDP_REDIRECT) and never
      // copied back, so there is no data_out.
      opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
      opts.batch_size = batch_size_;
      opts.ctx_in = &ctx;
      opts.ctx_size_in = sizeof(ctx);
    } else {
      out_.resize(data_.size() + kDataOutSlack);
      opts.data_out = out_.data();
      opts.data_size_out = static_cast<uint32_t>(out_.size());
      // Without an interface the kernel runs the program on loopback's rxq;
      // a context naming one needs that device to exist (and rx queue 0).
      if (ingress_ifindex_ != 0) {
        opts.ctx_in = &ctx;
        opts.ctx_size_in = sizeof(ctx);
      }
    }
    int ret = bpf_prog_test_run_opts(prog_fd_, &opts);
    if (ret < 0) {
      err_.Set(ret, "bpf_prog_test_run_opts", "prog fd " + std::to_string(prog_fd_));
      return;
    }
    retval_ = opts.retval;
    duration_ = opts.duration;
    out_.resize(live_ ? 0 : opts.data_size_out);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("retval", Napi::Number::New(env, retval_));
    r.Set("durationNs", Napi::Number::New(env, duration_));
    r.Set("dataOut", Napi::Buffer<uint8_t>::Copy(env, out_.data(), out_.size()));
    return r;
  }

 private:
  int prog_fd_;
  std::vector<uint8_t> data_;
  int repeat_;
  bool live_;
  uint32_t batch_size_;
  uint32_t ingress_ifindex_;
  std::vector<uint8_t> out_;
  uint32_t retval_ = 0;
  uint32_t duration_ = 0;
};

}  // namespace

Napi::Value TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = static_cast<int>(IntArg(info, 0, "progFd"));
  if (!info[1].IsObject()) throw Napi::TypeError::New(env, "opts must be an object");
  Napi::Object o = info[1].As<Napi::Object>();
  Napi::Value dv = o.Get("data");
  if (!dv.IsBuffer()) throw Napi::TypeError::New(env, "data must be a Buffer");
  Napi::Buffer<uint8_t> data = dv.As<Napi::Buffer<uint8_t>>();
  // Copied: the JS buffer may be mutated or collected while the worker runs.
  std::vector<uint8_t> copy(data.Data(), data.Data() + data.Length());
  Napi::Value lv = o.Get("live");
  bool live = !lv.IsUndefined() && !lv.IsNull() && lv.ToBoolean().Value();
  auto* w = new TestRunWorker(env, prog_fd, std::move(copy), static_cast<int>(OptIntProp(o, "repeat", 1)), live,
                              static_cast<uint32_t>(OptIntProp(o, "batchSize", 0)), static_cast<uint32_t>(OptIntProp(o, "ingressIfindex", 0)));
  return w->Start();
}

Napi::Value TestRunSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = static_cast<int>(IntArg(info, 0, "progFd"));
  Napi::Buffer<uint8_t> data = BufferArg(info, 1, "data");
  std::vector<uint8_t> out(data.Length() + kDataOutSlack);
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.data_in = data.Data();
  opts.data_size_in = static_cast<uint32_t>(data.Length());
  opts.data_out = out.data();
  opts.data_size_out = static_cast<uint32_t>(out.size());
  opts.repeat = 1;
  int ret = bpf_prog_test_run_opts(prog_fd, &opts);
  if (ret < 0) ThrowErrno(env, ret, "bpf_prog_test_run_opts", "prog fd " + std::to_string(prog_fd));
  Napi::Object r = Napi::Object::New(env);
  r.Set("retval", Napi::Number::New(env, opts.retval));
  r.Set("durationNs", Napi::Number::New(env, opts.duration));
  r.Set("dataOut", Napi::Buffer<uint8_t>::Copy(env, out.data(), opts.data_size_out));
  return r;
}

}  // namespace xlvs
