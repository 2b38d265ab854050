// Module entry: free functions (creation from typed arrays, autograd.grad, grad mode,
// threads, seeds) and registration of the wrapper classes.
#include "common.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/version.h>

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace sauron {

namespace {

// fromArray(typedArray, shape, dtype, device?): copies the data into a new tensor. For a
// CUDA device the data is staged in pinned host memory and copied without blocking, so the
// host can prepare the next batch while the copy runs (the caching host allocator keeps the
// staging block until the copy has finished).
Napi::Value FromArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "fromArray: expected a typed array");
  auto ta = info[0].As<Napi::TypedArray>();
  auto shape = ToIntVector(env, info[1], "shape");
  for (auto s : shape)
    if (s < 0) throw Napi::RangeError::New(env, "shape entries must be non-negative");
  at::ScalarType dtype = ParseDtype(env, info[2].As<Napi::String>().Utf8Value());
  c10::Device device = DeviceArg(env, info.Length() > 3 ? info[3] : env.Undefined());
  SAURON_GUARD(env, {
    bool staged = device.is_cuda();
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype).pinned_memory(staged));
    size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
    if (ta.ByteLength() != bytes)
      throw Napi::RangeError::New(env, "fromArray: data has " + std::to_string(ta.ByteLength()) +
                                           " bytes but shape and dtype need " + std::to_string(bytes));
    auto* src = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    if (bytes) std::memcpy(t.data_ptr(), src, bytes);
    if (!device.is_cpu()) t = t.to(device, /*non_blocking=*/staged);
    return TensorWrap::Wrap(env, std::move(t));
  })
}

// grad(outputs, inputs, gradOutputs?, retainGraph?, createGraph?, allowUnused?)
Napi::Value Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto outputs = ToTensorVector(env, info[0], "outputs");
  auto inputs = ToTensorVector(env, info[1], "inputs");
  std::vector<at::Tensor> gradOutputs;
  if (info.Length() > 2 && info[2].IsArray()) gradOutputs = ToTensorVector(env, info[2], "gradOutputs");
  c10::optional<bool> retain;
  if (info.Length() > 3 && info[3].IsBoolean()) retain = info[3].As<Napi::Boolean>().Value();
  bool create = info.Length() > 4 && info[4].ToBoolean().Value();
  bool allowUnused = info.Length() > 5 && info[5].ToBoolean().Value();
  SAURON_GUARD(env, {
    auto grads = torch::autograd::grad(outputs, inputs, gradOutputs, retain, create, allowUnused);
    auto arr = Napi::Array::New(env, grads.size());
    for (size_t i = 0; i < grads.size(); i++) arr.Set(i, TensorWrap::Wrap(env, grads[i]));
    return arr;
  })
}

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  c10::GradMode::set_enabled(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}

// BLIS multiplies on one thread unless BLIS_NUM_THREADS (or OMP_NUM_THREADS) says otherwise,
// whatever libtorch's thread count: the default model's fully connected layer, forward and
// backward at 256 rows, took 5.0 ms on one thread against 2.6 on two (2 cores), with the same
// bits (BLIS splits rows and columns among threads, never a sum; BENCHMARKS.md, "Attack step:
// BLIS threads"). Debian's BLIS
// exports no call to set it, and reads the environment once, at its first product: so the
// first thread count goes into the environment for that first product (a 2x2 one, here) and
// out again, leaving child processes the environment they were given. A user's own
// BLIS_NUM_THREADS wins; other BLAS libraries never read it.
void SetBlisThreads(int n) {
  static std::once_flag once;
  std::call_once(once, [n] {
    if (std::getenv("BLIS_NUM_THREADS")) return;
    setenv("BLIS_NUM_THREADS", std::to_string(n).c_str(), 1);
    at::mm(at::ones({2, 2}), at::ones({2, 2}));
    unsetenv("BLIS_NUM_THREADS");
  });
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 1)
    throw Napi::RangeError::New(env, "thread count must be a positive integer");
  const int n = info[0].As<Napi::Number>().Int32Value();
  SAURON_GUARD(env, {
    at::set_num_threads(n);
    SetBlisThreads(n);
  })
  return env.Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().DoubleValue() < 0)
    throw Napi::TypeError::New(env, "seed must be a non-negative integer");
  at::manual_seed(static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue()));
  return env.Undefined();
}

Napi::Value LiveTensors(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(TensorWrap::LiveCount(info.Env())));
}

Napi::Value ParallelInfo(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), at::get_parallel_info());
}

// Freed tensor memory goes back to glibc's heap instead of being unmapped and faulted in
// again on the next step: this brought a train step level with Python PyTorch (see
// ecosystem notes). glibc caps the mmap threshold at 32 MB, so larger tensors (a small CNN's
// activations past about 640 rows, VGG-19's past batch 128) were still mapped and zero-filled
// afresh on every step: about 2 GB of page faults per attack step at 2,048 rows, twice its time.
// Not mapping at all keeps them in the heap too (BENCHMARKS.md, "Host memory"). Users who set
// MALLOC_* themselves keep their settings.
void TuneMalloc() {
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_") || std::getenv("MALLOC_MMAP_MAX_")) return;
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
}

}  // namespace


Napi::Object Init(Napi::Env env, Napi::Object exports) {
  TuneMalloc();
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);

  TensorWrap::Init(env, exports);
  Napi::Function generator = GeneratorWrap::Init(env);
  data->generatorCtor = Napi::Persistent(generator);
  Napi::Function op = InitOp(env);
  data->opCtor = Napi::Persistent(op);
  Napi::Function optimizer = InitOptimizer(env);
  data->optimizerCtor = Napi::Persistent(optimizer);
  Napi::Function scriptModule = InitScriptModule(env);

  exports.Set("Generator", generator);
  exports.Set("Op", op);
  exports.Set("Optimizer", optimizer);
  exports.Set("ScriptModule", scriptModule);
  exports.Set("fromArray", Napi::Function::New(env, FromArray));
  exports.Set("grad", Napi::Function::New(env, Grad));
  exports.Set("setGradEnabled", Napi::Function::New(env, SetGradEnabled));
  exports.Set("isGradEnabled", Napi::Function::New(env, IsGradEnabled));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed));
  exports.Set("liveTensors", Napi::Function::New(env, LiveTensors));
  exports.Set("parallelInfo", Napi::Function::New(env, ParallelInfo));
  exports.Set("libtorchVersion", Napi::String::New(env, TORCH_VERSION));
  InitDevice(env, exports);
  InitDistributed(env, exports);
  InitPool(env, exports);
  InitWindow(env, exports);
  InitConv(env, exports);
  InitFabProjection(env, exports);
  InitConvStack(env, exports);
  return exports;
}

}  // namespace sauron

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return sauron::Init(env, exports); }

NODE_API_MODULE(sauron_native, InitAddon)
