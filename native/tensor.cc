// The JS wrapper of at::Tensor and of at::Generator, plus typed-array transfer.
#include "common.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstring>

namespace sauron {


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

namespace {

TensorTable& Table(Napi::Env env) { return env.GetInstanceData<AddonData>()->tensors; }

// The slot starts counting its tensor's host storage (reported to V8 when first held).
void Count(Napi::Env env, TensorTable& table, TensorSlot& slot) {
  const at::Tensor& t = slot.tensor;
  slot.storage = nullptr;
  if (!t.defined() || !t.is_cpu() || !t.has_storage()) return;
  const void* key = t.storage().unsafeGetStorageImpl();
  auto& use = table.storages[key];
  if (use.slots++ == 0) {
    use.bytes = StorageBytes(t);
    if (use.bytes) Napi::MemoryManagement::AdjustExternalMemory(env, use.bytes);
  }
  slot.storage = key;
}

// The slot stops counting its storage (unreported when no slot holds it any more).
void Uncount(Napi::Env env, TensorTable& table, TensorSlot& slot) {
  if (!slot.storage) return;
  auto it = table.storages.find(slot.storage);
  slot.storage = nullptr;
  if (it == table.storages.end()) return;
  if (--it->second.slots == 0) {
    if (it->second.bytes) Napi::MemoryManagement::AdjustExternalMemory(env, -it->second.bytes);
    table.storages.erase(it);
  }
}

// One instance-data lookup per call: every tensor argument of every operator passes here.
uint32_t IdOf(Napi::Env env, const TensorTable& table, const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "expected a tensor");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 1 && d < static_cast<double>(table.slots.size()) && d == static_cast<double>(static_cast<uint32_t>(d))))
    throw Napi::TypeError::New(env, "expected a tensor");
  return static_cast<uint32_t>(d);
}

at::Tensor& Live(Napi::Env env, const Napi::Value& v) {
  auto& table = Table(env);
  auto& slot = table.slots[IdOf(env, table, v)];
  if (!slot.tensor.defined()) throw Napi::Error::New(env, "tensor was already disposed");
  return slot.tensor;
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& table = Table(env);
  uint32_t id = IdOf(env, table, info[0]);
  auto& slot = table.slots[id];
  if (slot.tensor.defined()) {
    Uncount(env, table, slot);
    slot.tensor.reset();
    table.liveCount--;
    table.freeSlots.push_back(id);
  }
  return env.Undefined();
}

Napi::Value IsDisposed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& table = Table(env);
  return Napi::Boolean::New(env, !table.slots[IdOf(env, table, info[0])].tensor.defined());
}

Napi::Value Shape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto sizes = Live(env, info[0]).sizes();
  auto arr = Napi::Array::New(env, sizes.size());
  for (size_t i = 0; i < sizes.size(); i++) arr.Set(i, Napi::Number::New(env, static_cast<double>(sizes[i])));
  return arr;
}

Napi::Value Dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), DtypeName(Live(info.Env(), info[0]).scalar_type()));
}

Napi::Value Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), Live(info.Env(), info[0]).device().str());
}

Napi::Value Numel(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Live(info.Env(), info[0]).numel()));
}

Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Live(info.Env(), info[0]).requires_grad());
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = Live(env, info[0]);
  SAURON_GUARD(env, { t.requires_grad_(info[1].ToBoolean().Value()); })
  return env.Undefined();
}

Napi::Value Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return TensorWrap::Wrap(env, Live(env, info[0]).grad());
}

Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = Live(env, info[0]);
  SAURON_GUARD(env, {
    if (info[1].IsNull() || info[1].IsUndefined())
      t.mutable_grad().reset();
    else
      t.mutable_grad() = Live(env, info[1]);
  })
  return env.Undefined();
}

Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Live(info.Env(), info[0]).is_leaf());
}

template <typename T, typename ArrayT>
Napi::Value CopyOut(Napi::Env env, const at::Tensor& c) {
  auto n = static_cast<size_t>(c.numel());
  auto arr = ArrayT::New(env, n);
  if (n) std::memcpy(arr.Data(), c.data_ptr(), n * sizeof(T));
  return arr;
}

Napi::Value ToArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = Live(env, info[0]);
  SAURON_GUARD(env, {
    at::Tensor c = t.detach().cpu().contiguous();
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

// Overwrites the tensor's elements from a typed array (same byte count), in place.
Napi::Value CopyFromArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = Live(env, info[0]);
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "expected a typed array");
  auto ta = info[1].As<Napi::TypedArray>();
  SAURON_GUARD(env, {
    if (!t.is_contiguous()) throw Napi::Error::New(env, "setData needs a contiguous tensor");
    size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
    if (ta.ByteLength() != bytes)
      throw Napi::RangeError::New(env, "typed array holds " + std::to_string(ta.ByteLength()) + " bytes, tensor needs " +
                                           std::to_string(bytes));
    auto* src = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    if (t.is_cpu()) {
      if (bytes) std::memcpy(t.data_ptr(), src, bytes);
    } else {
      // Device memory is not addressable from here: stage on the host, then copy over.
      at::Tensor host = at::empty(t.sizes(), t.options().device(at::kCPU));
      if (bytes) std::memcpy(host.data_ptr(), src, bytes);
      at::NoGradGuard noGrad;
      t.copy_(host);
    }
  })
  return env.Undefined();
}

Napi::Value Item(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = Live(env, info[0]);
  SAURON_GUARD(env, {
    at::Scalar s = t.item();
    if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
    if (s.isIntegral(false)) return Napi::Number::New(env, static_cast<double>(s.toLong()));
    return Napi::Number::New(env, s.toDouble());
  })
}

// backward(id, gradientId | null, retainGraph?, createGraph?)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = Live(env, info[0]);
  SAURON_GUARD(env, {
    std::vector<at::Tensor> grads;
    if (info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined()) grads.push_back(Live(env, info[1]));
    c10::optional<bool> retain;
    if (info.Length() > 2 && info[2].IsBoolean()) retain = info[2].As<Napi::Boolean>().Value();
    bool create = info.Length() > 3 && info[3].ToBoolean().Value();
    torch::autograd::backward({t}, grads, retain, create);
  })
  return env.Undefined();
}

Napi::Value SameAs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Boolean::New(env, Live(env, info[0]).is_same(Live(env, info[1])));
}

}  // namespace

Napi::Value TensorWrap::Wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  auto& table = Table(env);
  uint32_t id;
  if (!table.freeSlots.empty()) {
    id = table.freeSlots.back();
    table.freeSlots.pop_back();
  } else {
    id = static_cast<uint32_t>(table.slots.size());
    table.slots.emplace_back();
  }
  auto& slot = table.slots[id];
  // Host tensors count towards V8's external memory so a leaked one is collected under
  // pressure. Device memory is not the JS heap's concern, and reporting it made V8 run a
  // full mark-compact on almost every GPU training step (measured with --trace-gc).
  slot.tensor = std::move(t);
  Count(env, table, slot);
  table.liveCount++;
  return Napi::Number::New(env, id);
}

bool TensorWrap::IsTensor(Napi::Env env, const Napi::Value& v) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  return d >= 1 && d < static_cast<double>(Table(env).slots.size()) && d == static_cast<double>(static_cast<uint32_t>(d));
}

at::Tensor& TensorWrap::From(Napi::Env env, const Napi::Value& v) { return Live(env, v); }

void TensorWrap::Recount(Napi::Env env, const Napi::Value& v) {
  auto& table = Table(env);
  auto& slot = table.slots[IdOf(env, table, v)];
  Uncount(env, table, slot);
  Count(env, table, slot);
}

int64_t TensorWrap::LiveCount(Napi::Env env) { return Table(env).liveCount; }

void TensorWrap::Init(Napi::Env env, Napi::Object exports) {
  auto t = Napi::Object::New(env);
  t.Set("dispose", Napi::Function::New(env, Dispose));
  t.Set("isDisposed", Napi::Function::New(env, IsDisposed));
  t.Set("shape", Napi::Function::New(env, Shape));
  t.Set("dtype", Napi::Function::New(env, Dtype));
  t.Set("device", Napi::Function::New(env, Device));
  t.Set("numel", Napi::Function::New(env, Numel));
  t.Set("requiresGrad", Napi::Function::New(env, RequiresGrad));
  t.Set("setRequiresGrad", Napi::Function::New(env, SetRequiresGrad));
  t.Set("grad", Napi::Function::New(env, Grad));
  t.Set("setGrad", Napi::Function::New(env, SetGrad));
  t.Set("isLeaf", Napi::Function::New(env, IsLeaf));
  t.Set("toArray", Napi::Function::New(env, ToArray));
  t.Set("item", Napi::Function::New(env, Item));
  t.Set("backward", Napi::Function::New(env, Backward));
  t.Set("sameAs", Napi::Function::New(env, SameAs));
  t.Set("copyFromArray", Napi::Function::New(env, CopyFromArray));
  exports.Set("tensor", t);
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
  c10::Device device = DeviceArg(env, info.Length() > 1 ? info[1] : env.Undefined());
  if (device.is_cpu()) {
    gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    return;
  }
  // Other devices' generator classes live in their own libraries (libtorch_cuda): clone the
  // device's default generator through the device-neutral interface, then seed the clone.
  SAURON_GUARD(env, {
    gen = at::globalContext().defaultGenerator(device).clone();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  })
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
