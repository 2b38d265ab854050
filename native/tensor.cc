// The JS wrapper of at::Tensor and of at::Generator, plus typed-array transfer.
#include "common.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstring>

namespace sauron {

std::atomic<int64_t> TensorWrap::live{0};

struct DtypeEntry {
  const char* name;
  at::ScalarType type;
};
static const DtypeEntry kDtypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"int64", at::kLong},
    {"int32", at::kInt},     {"uint8", at::kByte},     {"int8", at::kChar},
    {"bool", at::kBool},     {"float16", at::kHalf},   {"bfloat16", at::kBFloat16},
    {"int16", at::kShort},
};

at::ScalarType ParseDtype(Napi::Env env, const std::string& name) {
  for (const auto& e : kDtypes)
    if (name == e.name) return e.type;
  throw Napi::TypeError::New(env, "unknown dtype '" + name +
                                      "' (expected float32, float64, int64, int32, uint8, int8, "
                                      "int16, bool, float16 or bfloat16)");
}

std::string DtypeName(at::ScalarType t) {
  for (const auto& e : kDtypes)
    if (t == e.type) return e.name;
  return c10::toString(t);
}

std::vector<int64_t> ToIntVector(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + " must be an array of integers");
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value e = arr.Get(i);
    if (e.IsBigInt()) {
      bool lossless;
      out[i] = e.As<Napi::BigInt>().Int64Value(&lossless);
      continue;
    }
    if (!e.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + " must be an array of integers");
    double d = e.As<Napi::Number>().DoubleValue();
    if (d != static_cast<double>(static_cast<int64_t>(d)))
      throw Napi::TypeError::New(env, std::string(what) + " must contain integers, got " + std::to_string(d));
    out[i] = static_cast<int64_t>(d);
  }
  return out;
}

std::vector<at::Tensor> ToTensorVector(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + " must be an array of tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(TensorWrap::From(env, arr.Get(i)));
  return out;
}

static int64_t StorageBytes(const at::Tensor& t) {
  if (!t.defined() || !t.has_storage()) return 0;
  return static_cast<int64_t>(t.storage().nbytes());
}

Napi::Function TensorWrap::Init(Napi::Env env) {
  return DefineClass(
      env, "NativeTensor",
      {
          InstanceMethod<&TensorWrap::Dispose>("dispose"),
          InstanceMethod<&TensorWrap::IsDisposed>("isDisposed"),
          InstanceMethod<&TensorWrap::Shape>("shape"),
          InstanceMethod<&TensorWrap::Dtype>("dtype"),
          InstanceMethod<&TensorWrap::Device>("device"),
          InstanceMethod<&TensorWrap::Numel>("numel"),
          InstanceMethod<&TensorWrap::RequiresGrad>("requiresGrad"),
          InstanceMethod<&TensorWrap::SetRequiresGrad>("setRequiresGrad"),
          InstanceMethod<&TensorWrap::Grad>("grad"),
          InstanceMethod<&TensorWrap::SetGrad>("setGrad"),
          InstanceMethod<&TensorWrap::IsLeaf>("isLeaf"),
          InstanceMethod<&TensorWrap::ToArray>("toArray"),
          InstanceMethod<&TensorWrap::Item>("item"),
          InstanceMethod<&TensorWrap::Backward>("backward"),
          InstanceMethod<&TensorWrap::SameAs>("sameAs"),
          InstanceMethod<&TensorWrap::CopyFromArray>("copyFromArray"),
      });
}

Napi::Value TensorWrap::Wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  auto* data = env.GetInstanceData<AddonData>();
  auto* heap = new at::Tensor(std::move(t));
  return data->tensorCtor.New({Napi::External<at::Tensor>::New(env, heap)});
}

bool TensorWrap::IsTensor(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject()) return false;
  auto* data = env.GetInstanceData<AddonData>();
  return v.As<Napi::Object>().InstanceOf(data->tensorCtor.Value());
}

at::Tensor& TensorWrap::From(Napi::Env env, const Napi::Value& v) {
  if (!IsTensor(env, v)) throw Napi::TypeError::New(env, "expected a tensor");
  auto* w = Napi::ObjectWrap<TensorWrap>::Unwrap(v.As<Napi::Object>());
  if (!w->tensor.defined()) throw Napi::Error::New(env, "tensor was already disposed");
  return w->tensor;
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsExternal())
    throw Napi::TypeError::New(env, "NativeTensor is created by the addon only");
  auto* heap = info[0].As<Napi::External<at::Tensor>>().Data();
  tensor = std::move(*heap);
  delete heap;
  reportedBytes_ = StorageBytes(tensor);
  if (reportedBytes_) Napi::MemoryManagement::AdjustExternalMemory(env, reportedBytes_);
  live++;
}

void TensorWrap::Release(Napi::Env env) {
  if (!tensor.defined()) return;
  tensor.reset();
  live--;
  if (reportedBytes_) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -reportedBytes_);
    reportedBytes_ = 0;
  }
}

TensorWrap::~TensorWrap() {
  // Finalizer of a tensor the program forgot to dispose: free the native memory.
  // V8's external-memory counter is adjusted by dispose only; here the env may be gone.
  if (tensor.defined()) {
    tensor.reset();
    live--;
  }
}

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  Release(info.Env());
  return info.Env().Undefined();
}

Napi::Value TensorWrap::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !tensor.defined());
}

#define LIVE(env)                                                             \
  if (!tensor.defined()) throw Napi::Error::New(env, "tensor was already disposed");

Napi::Value TensorWrap::Shape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LIVE(env);
  auto sizes = tensor.sizes();
  auto arr = Napi::Array::New(env, sizes.size());
  for (size_t i = 0; i < sizes.size(); i++) arr.Set(i, Napi::Number::New(env, static_cast<double>(sizes[i])));
  return arr;
}

Napi::Value TensorWrap::Dtype(const Napi::CallbackInfo& info) {
  LIVE(info.Env());
  return Napi::String::New(info.Env(), DtypeName(tensor.scalar_type()));
}

Napi::Value TensorWrap::Device(const Napi::CallbackInfo& info) {
  LIVE(info.Env());
  return Napi::String::New(info.Env(), tensor.device().str());
}

Napi::Value TensorWrap::Numel(const Napi::CallbackInfo& info) {
  LIVE(info.Env());
  return Napi::Number::New(info.Env(), static_cast<double>(tensor.numel()));
}

Napi::Value TensorWrap::RequiresGrad(const Napi::CallbackInfo& info) {
  LIVE(info.Env());
  return Napi::Boolean::New(info.Env(), tensor.requires_grad());
}

Napi::Value TensorWrap::SetRequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LIVE(env);
  SAURON_GUARD(env, { tensor.requires_grad_(info[0].ToBoolean().Value()); })
  return env.Undefined();
}

Napi::Value TensorWrap::Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LIVE(env);
  return Wrap(env, tensor.grad());
}

Napi::Value TensorWrap::SetGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LIVE(env);
  SAURON_GUARD(env, {
    if (info[0].IsNull() || info[0].IsUndefined())
      tensor.mutable_grad().reset();
    else
      tensor.mutable_grad() = From(env, info[0]);
  })
  return env.Undefined();
}

Napi::Value TensorWrap::IsLeaf(const Napi::CallbackInfo& info) {
  LIVE(info.Env());
  return Napi::Boolean::New(info.Env(), tensor.is_leaf());
}

template <typename T, typename ArrayT>
static Napi::Value CopyOut(Napi::Env env, const at::Tensor& c) {
  auto n = static_cast<size_t>(c.numel());
  auto arr = ArrayT::New(env, n);
  if (n) std::memcpy(arr.Data(), c.data_ptr(), n * sizeof(T));
  return arr;
}

Napi::Value TensorWrap::ToArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LIVE(env);
  SAURON_GUARD(env, {
    at::Tensor c = tensor.detach().cpu().contiguous();
    switch (c.scalar_type()) {
      case at::kFloat: return CopyOut<float, Napi::Float32Array>(env, c);
      case at::kDouble: return CopyOut<double, Napi::Float64Array>(env, c);
      case at::kLong: return CopyOut<int64_t, Napi::BigInt64Array>(env, c);
      case at::kInt: return CopyOut<int32_t, Napi::Int32Array>(env, c);
      case at::kShort: return CopyOut<int16_t, Napi::Int16Array>(env, c);
      case at::kByte: return CopyOut<uint8_t, Napi::Uint8Array>(env, c);
      case at::kChar: return CopyOut<int8_t, Napi::Int8Array>(env, c);
      case at::kBool: return CopyOut<uint8_t, Napi::Uint8Array>(env, c);
      case at::kHalf:
      case at::kBFloat16: return CopyOut<float, Napi::Float32Array>(env, c.to(at::kFloat));
      default: throw Napi::TypeError::New(env, "cannot read tensors of dtype " + DtypeName(c.scalar_type()));
    }
  })
}

// Overwrites the tensor's elements from a typed array (same element count), in place.
Napi::Value TensorWrap::CopyFromArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LIVE(env);
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "expected a typed array");
  auto ta = info[0].As<Napi::TypedArray>();
  SAURON_GUARD(env, {
    if (!tensor.is_contiguous()) throw Napi::Error::New(env, "copyFromArray needs a contiguous tensor");
    size_t bytes = static_cast<size_t>(tensor.numel()) * tensor.element_size();
    if (ta.ByteLength() != bytes)
      throw Napi::RangeError::New(env, "typed array holds " + std::to_string(ta.ByteLength()) + " bytes, tensor needs " +
                                           std::to_string(bytes));
    auto* src = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    if (bytes) std::memcpy(tensor.data_ptr(), src, bytes);
  })
  return env.Undefined();
}

Napi::Value TensorWrap::Item(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LIVE(env);
  SAURON_GUARD(env, {
    at::Scalar s = tensor.item();
    if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
    if (s.isIntegral(false)) return Napi::Number::New(env, static_cast<double>(s.toLong()));
    return Napi::Number::New(env, s.toDouble());
  })
}

Napi::Value TensorWrap::Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LIVE(env);
  SAURON_GUARD(env, {
    std::vector<at::Tensor> grads;
    if (info.Length() > 0 && !info[0].IsNull() && !info[0].IsUndefined()) grads.push_back(From(env, info[0]));
    c10::optional<bool> retain;
    if (info.Length() > 1 && info[1].IsBoolean()) retain = info[1].As<Napi::Boolean>().Value();
    bool create = info.Length() > 2 && info[2].ToBoolean().Value();
    torch::autograd::backward({tensor}, grads, retain, create);
  })
  return env.Undefined();
}

Napi::Value TensorWrap::SameAs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LIVE(env);
  return Napi::Boolean::New(env, tensor.is_same(From(env, info[0])));
}

// ---------------------------------------------------------------------------------------
// Generator

Napi::Function GeneratorWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeGenerator",
                     {
                         InstanceMethod<&GeneratorWrap::ManualSeed>("manualSeed"),
                         InstanceMethod<&GeneratorWrap::InitialSeed>("initialSeed"),
                         InstanceMethod<&GeneratorWrap::GetState>("getState"),
                         InstanceMethod<&GeneratorWrap::SetState>("setState"),
                     });
}

static uint64_t SeedArg(Napi::Env env, const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "seed must be a non-negative integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d != static_cast<double>(static_cast<uint64_t>(d)))
    throw Napi::TypeError::New(env, "seed must be a non-negative integer");
  return static_cast<uint64_t>(d);
}

GeneratorWrap::GeneratorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GeneratorWrap>(info) {
  Napi::Env env = info.Env();
  uint64_t seed = info.Length() > 0 && !info[0].IsUndefined() ? SeedArg(env, info[0]) : 67280421310721ULL;
  gen = at::make_generator<at::CPUGeneratorImpl>(seed);
}

at::Generator& GeneratorWrap::From(Napi::Env env, const Napi::Value& v) {
  auto* data = env.GetInstanceData<AddonData>();
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(data->generatorCtor.Value()))
    throw Napi::TypeError::New(env, "expected a generator");
  return Napi::ObjectWrap<GeneratorWrap>::Unwrap(v.As<Napi::Object>())->gen;
}

Napi::Value GeneratorWrap::ManualSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t seed = SeedArg(env, info[0]);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_current_seed(seed);
  return env.Undefined();
}

Napi::Value GeneratorWrap::InitialSeed(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), gen.current_seed());
}

Napi::Value GeneratorWrap::GetState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SAURON_GUARD(env, {
    std::lock_guard<std::mutex> lock(gen.mutex());
    return TensorWrap::Wrap(env, gen.get_state());
  })
}

Napi::Value GeneratorWrap::SetState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SAURON_GUARD(env, {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(TensorWrap::From(env, info[0]));
  })
  return env.Undefined();
}

}  // namespace sauron
