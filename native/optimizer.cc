// libtorch's own optimizers (SGD, Adam, AdamW), so optimiser math is libtorch's, not ours.
#include "common.h"

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <memory>
#include <sstream>
#include <string>
#include <type_traits>

namespace sauron {

namespace {

double NumOpt(const Napi::Object& o, const char* key, double def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return def;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("optimizer option '") + key + "' must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool BoolOpt(const Napi::Object& o, const char* key, bool def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return def;
  return v.ToBoolean().Value();
}

// The optimizer's state is keyed by the parameter's TensorImpl: as a string in libtorch 1.x,
// as the pointer itself in 2.x.
template <typename Map>
typename Map::key_type StateKey(const Map&, const at::Tensor& p) {
  if constexpr (std::is_same_v<typename Map::key_type, std::string>) {
    std::ostringstream key;  // as c10::guts::to_string, which libtorch 1.x uses for the key
    key << p.unsafeGetTensorImpl();
    return key.str();
  } else
    return p.unsafeGetTensorImpl();
}

// torch::optim::SGD::step's arithmetic with multi-tensor (_foreach_) kernels: a handful of
// launches per step instead of four per parameter, which on a GPU is the difference between
// launch-bound and compute-bound optimizer steps. Same formulas in the same order, and the
// momentum buffers live in the optimizer's own state, so checkpoints are unchanged.
void ForeachSgdStep(torch::optim::SGD& opt) {
  torch::NoGradGuard noGrad;
  auto& state = opt.state();
  for (auto& group : opt.param_groups()) {
    auto& o = static_cast<torch::optim::SGDOptions&>(group.options());
    std::vector<at::Tensor> params, grads, bufs;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      params.push_back(p);
      grads.push_back(p.grad());
    }
    if (params.empty()) continue;
    std::vector<at::Tensor> d = o.weight_decay() != 0 ? at::_foreach_add(grads, params, o.weight_decay()) : grads;
    if (o.momentum() != 0) {
      std::vector<at::Tensor> old, oldD;
      for (size_t i = 0; i < params.size(); i++) {
        auto key = StateKey(state, params[i]);
        auto it = state.find(key);
        if (it == state.end()) {
          auto buf = d[i].clone().detach();
          auto s = std::make_unique<torch::optim::SGDParamState>();
          s->momentum_buffer(buf);
          state[key] = std::move(s);
          bufs.push_back(buf);
        } else {
          auto buf = static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer();
          old.push_back(buf);
          oldD.push_back(d[i]);
          bufs.push_back(buf);
        }
      }
      if (!old.empty()) {
        at::_foreach_mul_(old, o.momentum());
        at::_foreach_add_(old, oldD, 1 - o.dampening());
      }
      d = o.nesterov() ? at::_foreach_add(d, bufs, o.momentum()) : bufs;
    }
    at::_foreach_add_(params, d, -1 * o.lr());
  }
}

class OptimizerWrap : public Napi::ObjectWrap<OptimizerWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeOptimizer",
                       {
                           InstanceMethod<&OptimizerWrap::Step>("step"),
                           InstanceMethod<&OptimizerWrap::ZeroGrad>("zeroGrad"),
                           InstanceMethod<&OptimizerWrap::GetLr>("getLr"),
                           InstanceMethod<&OptimizerWrap::SetLr>("setLr"),
                           InstanceMethod<&OptimizerWrap::SaveState>("saveState"),
                           InstanceMethod<&OptimizerWrap::LoadState>("loadState"),
                       });
  }

  // new NativeOptimizer(kind, params, options)
  explicit OptimizerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OptimizerWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsString() || !info[2].IsObject())
      throw Napi::TypeError::New(env, "NativeOptimizer(kind, params, options)");
    std::string kind = info[0].As<Napi::String>().Utf8Value();
    std::vector<at::Tensor> params = ToTensorVector(env, info[1], "params");
    Napi::Object o = info[2].As<Napi::Object>();
    SAURON_GUARD(env, {
      if (kind == "sgd") {
        auto opts = torch::optim::SGDOptions(NumOpt(o, "lr", 0.01))
                        .momentum(NumOpt(o, "momentum", 0))
                        .dampening(NumOpt(o, "dampening", 0))
                        .weight_decay(NumOpt(o, "weightDecay", 0))
                        .nesterov(BoolOpt(o, "nesterov", false));
        opt_ = std::make_unique<torch::optim::SGD>(params, opts);
      } else if (kind == "adam" || kind == "adamw") {
        double b1 = NumOpt(o, "beta1", 0.9), b2 = NumOpt(o, "beta2", 0.999);
        if (kind == "adam") {
          auto opts = torch::optim::AdamOptions(NumOpt(o, "lr", 1e-3))
                          .betas(std::make_tuple(b1, b2))
                          .eps(NumOpt(o, "eps", 1e-8))
                          .weight_decay(NumOpt(o, "weightDecay", 0))
                          .amsgrad(BoolOpt(o, "amsgrad", false));
          opt_ = std::make_unique<torch::optim::Adam>(params, opts);
        } else {
          auto opts = torch::optim::AdamWOptions(NumOpt(o, "lr", 1e-3))
                          .betas(std::make_tuple(b1, b2))
                          .eps(NumOpt(o, "eps", 1e-8))
                          .weight_decay(NumOpt(o, "weightDecay", 1e-2))
                          .amsgrad(BoolOpt(o, "amsgrad", false));
          opt_ = std::make_unique<torch::optim::AdamW>(params, opts);
        }
      } else {
        throw Napi::TypeError::New(env, "unknown optimizer '" + kind + "' (expected sgd, adam or adamw)");
      }
    })
  }

 private:
  Napi::Value Step(const Napi::CallbackInfo& info) {
    SAURON_GUARD(info.Env(), {
      auto* sgd = dynamic_cast<torch::optim::SGD*>(opt_.get());
      if (sgd && OnCuda()) ForeachSgdStep(*sgd);
      else opt_->step();
    })
    return info.Env().Undefined();
  }

  // The CPU keeps libtorch's own loop (measured at PyTorch's speed there); a GPU takes the
  // multi-tensor step.
  bool OnCuda() const {
    for (const auto& group : opt_->param_groups())
      for (const auto& p : group.params()) return p.is_cuda();
    return false;
  }

  // Sets gradients to none (PyTorch 2's default); the update math is unchanged.
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    for (auto& group : opt_->param_groups())
      for (auto& p : group.params())
        if (p.grad().defined()) p.mutable_grad().reset();
    return info.Env().Undefined();
  }

  Napi::Value GetLr(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), opt_->param_groups().at(0).options().get_lr());
  }

  Napi::Value SetLr(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "learning rate must be a number");
    double lr = info[0].As<Napi::Number>().DoubleValue();
    for (auto& group : opt_->param_groups()) group.options().set_lr(lr);
    return env.Undefined();
  }

  // Optimizer state (momentum buffers, Adam moments and step counts) as libtorch's archive
  // bytes, for checkpoints that resume training exactly.
  Napi::Value SaveState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SAURON_GUARD(env, {
      torch::serialize::OutputArchive archive;
      opt_->save(archive);
      std::ostringstream out;
      archive.save_to(out);
      std::string bytes = out.str();
      return Napi::Buffer<char>::Copy(env, bytes.data(), bytes.size());
    })
  }

  Napi::Value LoadState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "optimizer state must be a Buffer");
    auto buf = info[0].As<Napi::Buffer<char>>();
    SAURON_GUARD(env, {
      torch::serialize::InputArchive archive;
      // Checkpoints are device-neutral: the state lands where the parameters live now,
      // whichever device saved it.
      c10::optional<c10::Device> device;
      for (const auto& group : opt_->param_groups())
        if (!group.params().empty()) {
          device = group.params()[0].device();
          break;
        }
      archive.load_from(buf.Data(), buf.Length(), device);
      opt_->load(archive);
    })
    return env.Undefined();
  }

  std::unique_ptr<torch::optim::Optimizer> opt_;
};

}  // namespace

Napi::Function InitOptimizer(Napi::Env env) { return OptimizerWrap::Init(env); }

}  // namespace sauron
