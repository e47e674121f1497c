// SPDX-License-Identifier: Apache-2.0
// promise_worker.h: PromiseWorker, the base of every libuv worker whose outcome settles a JS promise.
#ifndef XLVS_NATIVE_PROMISE_WORKER_H
#define XLVS_NATIVE_PROMISE_WORKER_H

#include <napi.h>

#include "errors.h"

namespace xlvs {

// Execute() runs off the JS thread and records a failure in err_ (it may not
// touch JS there); back on the JS thread the promise is rejected with that
// error, or resolved with Result(). A JS exception from Result() rejects too,
// so the promise is settled exactly once whatever happens.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  // Queues the worker, which deletes itself once settled: do not touch it afterwards.
  Napi::Promise Start() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

 protected:
  PromiseWorker(Napi::Env env, const char* resource_name) : Napi::AsyncWorker(env, resource_name), deferred_(Napi::Promise::Deferred::New(env)) {}

  // On the JS thread, only when Execute() recorded no failure: the value to resolve with.
  virtual Napi::Value Result(Napi::Env env) = 0;

  // On the JS thread before the promise is settled, on every path (owners waiting for the worker).
  virtual void Finished() {}

  PendingError err_;

 private:
  void OnOK() final {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Finished();
    if (err_.failed()) {
      deferred_.Reject(err_.ToError(env).Value());
      return;
    }
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) final {
    Finished();
    deferred_.Reject(e.Value());
  }

  Napi::Promise::Deferred deferred_;
};

}  // namespace xlvs

#endif  // XLVS_NATIVE_PROMISE_WORKER_H
