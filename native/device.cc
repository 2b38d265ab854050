// Devices: what this build and machine offer (CUDA or not), synchronisation, moving a
// tensor's storage in place (Module.to), autocast and TF32 switches. Written against APIs
// present in both libtorch 1.13 and 2.x, with version switches where the autocast API moved;
// no CUDA header is included, so one source builds against CPU and CUDA libtorch alike.
#include "common.h"

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SAURON_AUTOCAST_PER_DEVICE 1
#endif

namespace sauron {

bool AutocastEnabled(c10::DeviceType t) {
#ifdef SAURON_AUTOCAST_PER_DEVICE
  return at::autocast::is_autocast_enabled(t);
#else
  return t == c10::DeviceType::CPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

namespace {

c10::Device ParseDevice(Napi::Env env, const Napi::Value& v) {
  if (!v.IsString()) throw Napi::TypeError::New(env, "device must be a string such as 'cpu' or 'cuda:0'");
  std::string s = v.As<Napi::String>().Utf8Value();
  try {
    return c10::Device(s);
  } catch (const c10::Error&) {
    throw Napi::TypeError::New(env, "unknown device '" + s + "' (expected cpu, cuda or cuda:N)");
  }
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SAURON_GUARD(env, { return Napi::Number::New(env, static_cast<double>(torch::cuda::device_count())); })
}

// Waits for the work queued on a CUDA device (all devices when index < 0).
Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t index = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : -1;
  SAURON_GUARD(env, {
    if (torch::cuda::is_available()) torch::cuda::synchronize(index);
  })
  return env.Undefined();
}

// setData(dst, src): dst keeps its identity (id, autograd leaf, requires_grad) and takes
// src's storage, device and dtype, as PyTorch's `param.data = ...` in Module._apply.
Napi::Value SetData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& dst = TensorWrap::From(env, info[0]);
  at::Tensor src = TensorWrap::From(env, info[1]);
  SAURON_GUARD(env, { dst.set_data(src); })
  TensorWrap::Recount(env, info[0]);
  return env.Undefined();
}

c10::DeviceType AutocastDeviceType(Napi::Env env, const std::string& s) {
  if (s == "cpu") return c10::DeviceType::CPU;
  if (s == "cuda") return c10::DeviceType::CUDA;
  throw Napi::TypeError::New(env, "autocast runs on cpu or cuda, not '" + s + "'");
}

at::ScalarType AutocastDtype(c10::DeviceType t) {
#ifdef SAURON_AUTOCAST_PER_DEVICE
  return at::autocast::get_autocast_dtype(t);
#else
  return t == c10::DeviceType::CPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
#endif
}

void SetAutocast(c10::DeviceType t, bool on, at::ScalarType dtype) {
#ifdef SAURON_AUTOCAST_PER_DEVICE
  at::autocast::set_autocast_dtype(t, dtype);
  at::autocast::set_autocast_enabled(t, on);
#else
  if (t == c10::DeviceType::CPU) {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(on);
  } else {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(on);
  }
#endif
}

// autocastEnter(deviceType, dtype) -> [wasEnabled, previousDtype]: as torch.autocast's
// __enter__ (the weight-cast cache lives until the outermost region exits).
Napi::Value AutocastEnter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  c10::DeviceType t = AutocastDeviceType(env, info[0].As<Napi::String>().Utf8Value());
  at::ScalarType dtype = ParseDtype(env, info[1].As<Napi::String>().Utf8Value());
  if (dtype != at::kBFloat16 && dtype != at::kHalf)
    throw Napi::TypeError::New(env, "autocast dtype must be bfloat16 or float16");
  auto prev = Napi::Array::New(env, 2);
  SAURON_GUARD(env, {
    prev.Set(0u, Napi::Boolean::New(env, AutocastEnabled(t)));
    prev.Set(1u, Napi::String::New(env, DtypeName(AutocastDtype(t))));
    SetAutocast(t, true, dtype);
    at::autocast::increment_nesting();
  })
  return prev;
}

// autocastExit(deviceType, wasEnabled, previousDtype): restores the state autocastEnter saw.
Napi::Value AutocastExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  c10::DeviceType t = AutocastDeviceType(env, info[0].As<Napi::String>().Utf8Value());
  bool was = info[1].ToBoolean().Value();
  at::ScalarType dtype = ParseDtype(env, info[2].As<Napi::String>().Utf8Value());
  SAURON_GUARD(env, {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    SetAutocast(t, was, dtype);
  })
  return env.Undefined();
}

// TF32 on Ampere+ tensor cores: PyTorch's defaults are off for matmul, on for cuDNN convs.
Napi::Value SetAllowTF32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SAURON_GUARD(env, {
    at::globalContext().setAllowTF32CuBLAS(info[0].ToBoolean().Value());
    at::globalContext().setAllowTF32CuDNN(info[1].ToBoolean().Value());
  })
  return env.Undefined();
}

Napi::Value GetAllowTF32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Boolean::New(env, at::globalContext().allowTF32CuBLAS()));
  out.Set(1u, Napi::Boolean::New(env, at::globalContext().allowTF32CuDNN()));
  return out;
}

// Deterministic CUDA kernels (cuDNN's deterministic algorithms, no autotuning, PyTorch's
// deterministic implementations where an op has one; ops without one warn, not throw).
Napi::Value SetDeterministic(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool on = info[0].ToBoolean().Value();
  SAURON_GUARD(env, {
    at::globalContext().setDeterministicCuDNN(on);
    at::globalContext().setBenchmarkCuDNN(false);
    at::globalContext().setDeterministicAlgorithms(on, /*warn_only=*/true);
  })
  return env.Undefined();
}

}  // namespace

void InitDevice(Napi::Env env, Napi::Object exports) {
#ifdef SAURON_WITH_CUDA
  exports.Set("builtWithCuda", Napi::Boolean::New(env, true));
#else
  exports.Set("builtWithCuda", Napi::Boolean::New(env, false));
#endif
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize));
  exports.Set("setData", Napi::Function::New(env, SetData));
  exports.Set("autocastEnter", Napi::Function::New(env, AutocastEnter));
  exports.Set("autocastExit", Napi::Function::New(env, AutocastExit));
  exports.Set("setAllowTF32", Napi::Function::New(env, SetAllowTF32));
  exports.Set("getAllowTF32", Napi::Function::New(env, GetAllowTF32));
  exports.Set("setDeterministic", Napi::Function::New(env, SetDeterministic));
}

c10::Device DeviceArg(Napi::Env env, const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return c10::Device(c10::DeviceType::CPU);
  return ParseDevice(env, v);
}

}  // namespace sauron
