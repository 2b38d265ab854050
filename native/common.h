// Shared declarations of the Sauron native addon: a thin, generic layer over libtorch.
// Models, attacks and training live in TypeScript; this layer only wraps tensors,
// calls ATen operators by name, and exposes autograd, generators and optimizers.
#pragma once

#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <atomic>
#include <string>
#include <vector>

namespace sauron {

// Per-addon-instance state: constructors needed to create JS wrappers from C++.
struct AddonData {
  Napi::FunctionReference tensorCtor;
  Napi::FunctionReference generatorCtor;
  Napi::FunctionReference opCtor;
  Napi::FunctionReference optimizerCtor;
};

// Converts libtorch / C++ exceptions into JS errors carrying libtorch's message.
#define SAURON_GUARD(env, ...)                                        \
  try {                                                                  \
    __VA_ARGS__                                                          \
  } catch (const Napi::Error&) {                                         \
    throw;                                                               \
  } catch (const c10::Error& e) {                                        \
    throw Napi::Error::New(env, e.what_without_backtrace());             \
  } catch (const std::exception& e) {                                    \
    throw Napi::Error::New(env, e.what());                               \
  }

class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Value Wrap(Napi::Env env, at::Tensor t);
  static bool IsTensor(Napi::Env env, const Napi::Value& v);
  // Throws a JS error when v is not a live tensor.
  static at::Tensor& From(Napi::Env env, const Napi::Value& v);
  static std::atomic<int64_t> live;

  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;

  at::Tensor tensor;

 private:
  void Release(Napi::Env env);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value Numel(const Napi::CallbackInfo& info);
  Napi::Value RequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value Grad(const Napi::CallbackInfo& info);
  Napi::Value SetGrad(const Napi::CallbackInfo& info);
  Napi::Value IsLeaf(const Napi::CallbackInfo& info);
  Napi::Value ToArray(const Napi::CallbackInfo& info);
  Napi::Value Item(const Napi::CallbackInfo& info);
  Napi::Value Backward(const Napi::CallbackInfo& info);
  Napi::Value SameAs(const Napi::CallbackInfo& info);
  Napi::Value CopyFromArray(const Napi::CallbackInfo& info);

  int64_t reportedBytes_ = 0;
};

class GeneratorWrap : public Napi::ObjectWrap<GeneratorWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static at::Generator& From(Napi::Env env, const Napi::Value& v);
  explicit GeneratorWrap(const Napi::CallbackInfo& info);
  at::Generator gen;

 private:
  Napi::Value ManualSeed(const Napi::CallbackInfo& info);
  Napi::Value InitialSeed(const Napi::CallbackInfo& info);
  Napi::Value GetState(const Napi::CallbackInfo& info);
  Napi::Value SetState(const Napi::CallbackInfo& info);
};

Napi::Function InitOp(Napi::Env env);
Napi::Function InitOptimizer(Napi::Env env);

// Helpers shared between translation units.
at::ScalarType ParseDtype(Napi::Env env, const std::string& name);
std::string DtypeName(at::ScalarType t);
std::vector<int64_t> ToIntVector(Napi::Env env, const Napi::Value& v, const char* what);
std::vector<at::Tensor> ToTensorVector(Napi::Env env, const Napi::Value& v, const char* what);

}  // namespace sauron
