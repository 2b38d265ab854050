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
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/autograd/custom_function.h>
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

// initProcessGroup({ rank, worldSize, host, port, timeoutMs, agentStore, prefix }): with agentStore,
// every rank is a client of a store the launcher serves (torchrun's agent), under `prefix`.
Napi::Value InitProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (group) throw Napi::Error::New(env, "a process group is already initialised in this thread");
  auto o = info[0].As<Napi::Object>();
  int rank = IntField(env, o, "rank");
  int size = IntField(env, o, "worldSize");
  int port = IntField(env, o, "port");
  int timeoutMs = IntField(env, o, "timeoutMs");
  std::string host = o.Get("host").As<Napi::String>().Utf8Value();
  bool agentStore = o.Get("agentStore").ToBoolean().Value();
  std::string prefix = o.Has("prefix") && o.Get("prefix").IsString() ? o.Get("prefix").As<Napi::String>().Utf8Value() : "";
  SAURON_GUARD(env, {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = !agentStore && rank == 0;
    // every rank, client or server, announces itself (the server waits for all), as
    // PyTorch's TCPStore(host, port, world_size, is_master) does
    so.numWorkers = static_cast<std::size_t>(size);
    so.waitWorkers = true;
    so.timeout = std::chrono::milliseconds(timeoutMs);
    auto g = std::make_unique<Group>();
    c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(host, so);
    if (prefix.empty()) {
      g->store = tcp;
    } else {
      g->store = c10::make_intrusive<c10d::PrefixStore>(prefix, tcp);
    }
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

// Batch norm over the union of every rank's batch (PyTorch's SyncBatchNorm): the mean and
// the variance are reduced across ranks in the forward pass, and the two per-channel sums the
// input's gradient needs in the backward pass. The parameters' gradients stay local (the
// data-parallel gradient all-reduce averages them, as DDP does with SyncBatchNorm).
// The process group travels in the autograd context, because backward may run on another
// thread than the one that owns `group` (CUDA's device threads).
struct SyncBatchNormFn : public torch::autograd::Function<SyncBatchNormFn> {
  static std::vector<int64_t> ReduceDims(const at::Tensor& x) {
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < x.dim(); d++) dims.push_back(d);
    return dims;
  }
  static std::vector<int64_t> ChannelShape(const at::Tensor& x) {
    std::vector<int64_t> shape(x.dim(), 1);
    shape[1] = x.size(1);
    return shape;
  }
  // A lone process (no group) computes the same statistics with the same kernel, so a run
  // on one process and on several take the same steps up to the order of additions.
  static void Reduce(c10d::ProcessGroupGloo* pg, at::Tensor& t) {
    if (!pg) return;
    std::vector<at::Tensor> v{t};
    pg->allreduce(v)->wait();
  }

  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, at::Tensor weight, at::Tensor bias,
                            at::Tensor runningMean, at::Tensor runningVar, double momentum, double eps, int64_t pgAddress) {
    auto* pg = reinterpret_cast<c10d::ProcessGroupGloo*>(pgAddress);
    const int64_t c = x.size(1);
    auto dims = ReduceDims(x);
    auto shape = ChannelShape(x);
    // statistics in float64, as ATen's CPU batch norm accumulates them: a channel whose mean
    // is large against its spread loses its variance to float32 rounding otherwise
    auto xd = x.to(at::kDouble);
    auto first = at::cat({xd.sum(dims), at::full({1}, static_cast<double>(x.numel() / c), xd.options())});
    Reduce(pg, first);
    double n = first[c].item<double>();
    if (n < 2) throw std::runtime_error("sync batch norm needs at least 2 values per channel across the ranks");
    auto mean = first.narrow(0, 0, c) / n;
    auto sq = (xd - mean.view(shape)).square().sum(dims);
    Reduce(pg, sq);
    auto var = sq / n;
    auto invstd = (var + eps).rsqrt();
    {
      at::NoGradGuard ng;
      runningMean.mul_(1 - momentum).add_(mean.to(runningMean.scalar_type()) * momentum);
      runningVar.mul_(1 - momentum).add_((var * (n / (n - 1))).to(runningVar.scalar_type()) * momentum);
    }
    auto meanF = mean.to(x.scalar_type());
    auto invstdF = invstd.to(x.scalar_type());
    auto y = (x - meanF.view(shape)) * invstdF.view(shape);
    if (weight.defined()) y = y * weight.view(shape);
    if (bias.defined()) y = y + bias.view(shape);
    ctx->save_for_backward({x, weight, meanF, invstdF});
    ctx->saved_data["n"] = n;
    ctx->saved_data["pg"] = pgAddress;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto x = saved[0];
    auto weight = saved[1];
    auto mean = saved[2];
    auto invstd = saved[3];
    double n = ctx->saved_data["n"].toDouble();
    auto* pg = reinterpret_cast<c10d::ProcessGroupGloo*>(ctx->saved_data["pg"].toInt());
    auto gy = grads[0];
    auto dims = ReduceDims(x);
    auto shape = ChannelShape(x);
    const int64_t c = x.size(1);
    auto xhat = (x - mean.view(shape)) * invstd.view(shape);
    // the two per-channel sums in float64, as ATen's CPU backward accumulates them
    auto sumDy = gy.to(at::kDouble).sum(dims);
    auto sumDyXhat = (gy.to(at::kDouble) * xhat.to(at::kDouble)).sum(dims);
    auto both = at::cat({sumDy, sumDyXhat});
    Reduce(pg, both);
    auto scale = weight.defined() ? invstd * weight : invstd;
    auto meanDy = (both.narrow(0, 0, c) / n).to(x.scalar_type());
    auto meanDyXhat = (both.narrow(0, c, c) / n).to(x.scalar_type());
    auto gx = scale.view(shape) * (gy - meanDy.view(shape) - xhat * meanDyXhat.view(shape));
    auto type = weight.defined() ? weight.scalar_type() : x.scalar_type();
    return {gx, weight.defined() ? sumDyXhat.to(type) : at::Tensor(), weight.defined() ? sumDy.to(type) : at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// syncBatchNorm(x, weight, bias, runningMean, runningVar, momentum, eps): training-mode batch norm
// over every rank's batch (this process's alone without a group); running statistics updated
// in place.
Napi::Value SyncBatchNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  c10d::ProcessGroupGloo* pg = group ? group->pg.get() : nullptr;
  at::Tensor x = TensorWrap::From(env, info[0]);
  at::Tensor weight = info[1].IsNull() ? at::Tensor() : TensorWrap::From(env, info[1]);
  at::Tensor bias = info[2].IsNull() ? at::Tensor() : TensorWrap::From(env, info[2]);
  at::Tensor rm = TensorWrap::From(env, info[3]);
  at::Tensor rv = TensorWrap::From(env, info[4]);
  double momentum = info[5].As<Napi::Number>().DoubleValue();
  double eps = info[6].As<Napi::Number>().DoubleValue();
  if (x.dim() < 2) throw Napi::Error::New(env, "syncBatchNorm: the input needs a channel dimension");
  SAURON_GUARD(env, {
    auto y = SyncBatchNormFn::apply(x, weight, bias, rm, rv, momentum, eps, reinterpret_cast<int64_t>(pg));
    return TensorWrap::Wrap(env, y);
  })
}

// storeAdd(key, delta) -> the key's new value; storeCheck(key) -> whether it exists. The
// rendezvous store outlives a failed collective, so survivors can find out who is gone.
Napi::Value StoreAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& g = Current(env);
  std::string key = info[0].As<Napi::String>().Utf8Value();
  int64_t delta = info[1].As<Napi::Number>().Int64Value();
  SAURON_GUARD(env, { return Napi::Number::New(env, static_cast<double>(g.store->add(key, delta))); })
}

Napi::Value StoreCheck(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& g = Current(env);
  std::string key = info[0].As<Napi::String>().Utf8Value();
  SAURON_GUARD(env, { return Napi::Boolean::New(env, g.store->check({key})); })
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
  exports.Set("syncBatchNorm", Napi::Function::New(env, SyncBatchNorm));
  exports.Set("storeAdd", Napi::Function::New(env, StoreAdd));
  exports.Set("storeCheck", Napi::Function::New(env, StoreCheck));
  exports.Set("destroyProcessGroup", Napi::Function::New(env, DestroyProcessGroup));
#else
  exports.Set("hasGloo", Napi::Boolean::New(env, false));
  for (const char* name : {"initProcessGroup", "allReduce", "broadcast", "allGather", "barrier", "syncBatchNorm", "storeAdd", "storeCheck", "destroyProcessGroup"})
    exports.Set(name, Napi::Function::New(env, NoGloo));
#endif
}

}  // namespace sauron
