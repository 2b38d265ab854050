// PyTorch's own distributed engine, c10d: rendezvous through a TCPStore (rank 0 serves it)
// and collectives over a Gloo process group, the backend libtorch ships for the CPU. One
// process group per addon instance. Every collective waits for its result: a peer that died
// or a rendezvous that never completes surfaces as a JS error after the group's timeout.
// Builds without Gloo's headers (some libtorch distributions lack them), or with
// SAURON_NO_GLOO defined, get functions that say so.
#include "common.h"

#if !defined(SAURON_NO_GLOO) && __has_include(<gloo/config.h>) && \
    __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
#define SAURON_HAS_GLOO 1
// the switch PyTorch's own build sets when it compiles c10d with Gloo
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include <chrono>
#include <memory>

namespace sauron {

namespace {

#ifdef SAURON_HAS_GLOO

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  int rank = 0;
  int size = 1;
};

// Touched only from the thread of the addon instance that made it, like the tensor table.
thread_local std::unique_ptr<Group> group;

Group& Current(Napi::Env env) {
  if (!group) throw Napi::Error::New(env, "no process group: call initProcessGroup() first");
  return *group;
}

int IntField(Napi::Env env, Napi::Object o, const char* name) {
  auto v = o.Get(name);
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("initProcessGroup: ") + name + " must be a number");
  return v.As<Napi::Number>().Int32Value();
}

// initProcessGroup({ rank, worldSize, host, port, timeoutMs })
Napi::Value InitProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (group) throw Napi::Error::New(env, "a process group is already initialised in this thread");
  auto o = info[0].As<Napi::Object>();
  int rank = IntField(env, o, "rank");
  int size = IntField(env, o, "worldSize");
  int port = IntField(env, o, "port");
  int timeoutMs = IntField(env, o, "timeoutMs");
  std::string host = o.Get("host").As<Napi::String>().Utf8Value();
  SAURON_GUARD(env, {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = rank == 0;
    so.numWorkers = static_cast<std::size_t>(size);
    so.waitWorkers = true;
    so.timeout = std::chrono::milliseconds(timeoutMs);
    auto g = std::make_unique<Group>();
    g->store = c10::make_intrusive<c10d::TCPStore>(host, so);
    auto opts = c10d::ProcessGroupGloo::Options::create();
    opts->timeout = std::chrono::milliseconds(timeoutMs);
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
    g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, rank, size, opts);
    g->rank = rank;
    g->size = size;
    group = std::move(g);
  })
  return env.Undefined();
}

c10d::ReduceOp ParseOp(Napi::Env env, const std::string& s) {
  if (s == "sum") return c10d::ReduceOp::SUM;
  if (s == "max") return c10d::ReduceOp::MAX;
  if (s == "min") return c10d::ReduceOp::MIN;
  if (s == "product") return c10d::ReduceOp::PRODUCT;
  throw Napi::Error::New(env, "allReduce: unknown operation '" + s + "' (sum, max, min, product)");
}

// allReduce(tensors, op): in place on every rank.
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto tensors = ToTensorVector(env, info[0], "tensors");
  auto op = ParseOp(env, info[1].As<Napi::String>().Utf8Value());
  auto& g = Current(env);
  SAURON_GUARD(env, {
    c10d::AllreduceOptions o;
    o.reduceOp = op;
    g.pg->allreduce(tensors, o)->wait();
  })
  return env.Undefined();
}

// broadcast(tensors, root): in place, from `root` to every other rank.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto tensors = ToTensorVector(env, info[0], "tensors");
  int root = info[1].As<Napi::Number>().Int32Value();
  auto& g = Current(env);
  if (root < 0 || root >= g.size) throw Napi::RangeError::New(env, "broadcast: root rank out of range");
  SAURON_GUARD(env, {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    g.pg->broadcast(tensors, o)->wait();
  })
  return env.Undefined();
}

// allGather(tensor) -> one tensor per rank, in rank order.
Napi::Value AllGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = TensorWrap::From(env, info[0]);
  auto& g = Current(env);
  SAURON_GUARD(env, {
    std::vector<at::Tensor> in{t};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < g.size; r++) out[0].push_back(at::empty_like(t));
    g.pg->allgather(out, in)->wait();
    auto arr = Napi::Array::New(env, g.size);
    for (int r = 0; r < g.size; r++) arr.Set(r, TensorWrap::Wrap(env, out[0][r]));
    return arr;
  })
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& g = Current(env);
  SAURON_GUARD(env, { g.pg->barrier()->wait(); })
  return env.Undefined();
}

Napi::Value DestroyProcessGroup(const Napi::CallbackInfo& info) {
  group.reset();
  return info.Env().Undefined();
}

#else

Napi::Value NoGloo(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(), "this build of the addon has no Gloo (its libtorch came without gloo's headers); "
                                     "install them (Debian: libgloo-dev) and rebuild with npm ci");
}

#endif

}  // namespace

void InitDistributed(Napi::Env env, Napi::Object exports) {
#ifdef SAURON_HAS_GLOO
  exports.Set("hasGloo", Napi::Boolean::New(env, true));
  exports.Set("initProcessGroup", Napi::Function::New(env, InitProcessGroup));
  exports.Set("allReduce", Napi::Function::New(env, AllReduce));
  exports.Set("broadcast", Napi::Function::New(env, Broadcast));
  exports.Set("allGather", Napi::Function::New(env, AllGather));
  exports.Set("barrier", Napi::Function::New(env, Barrier));
  exports.Set("destroyProcessGroup", Napi::Function::New(env, DestroyProcessGroup));
#else
  exports.Set("hasGloo", Napi::Boolean::New(env, false));
  for (const char* name : {"initProcessGroup", "allReduce", "broadcast", "allGather", "barrier", "destroyProcessGroup"})
    exports.Set(name, Napi::Function::New(env, NoGloo));
#endif
}

}  // namespace sauron
