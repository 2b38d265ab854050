// Shared declarations of the Sauron native addon: a thin, generic layer over libtorch.
// Models, attacks and training live in TypeScript; this layer only wraps tensors,
// calls ATen operators by name, and exposes autograd, generators and optimizers.
#pragma once

// binding.gyp defines NAPI_CPP_EXCEPTIONS and NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS. Without
// the second, a worker terminated during a native call (the explorer cancelling a live attack)
// aborts the whole process: node-addon-api cannot throw the call's JS error into the dying
// environment and rethrows it as a C++ exception out of the callback (std::terminate).

#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <atomic>
#include <string>
#include <unordered_map>
#include <vector>

namespace sauron {

// One tensor held for JS: the tensor and the host storage it counts towards V8's external
// memory (null for device tensors).
struct TensorSlot {
  at::Tensor tensor;
  const void* storage = nullptr;
};

// A host storage held by one or more slots, reported to V8 once: views of one buffer (a
// narrow, a gradient, a reshape) must not each add its size, or V8 sees gigabytes that do
// not exist and runs full collections back to back (measured: 3x slower bucket copies).
struct StorageUse {
  int64_t slots = 0;
  int64_t bytes = 0;
};

// The tensors JS holds, by id. One table per addon instance (the main thread and each
// worker_thread that loads the addon have their own), touched only from that instance's thread.
struct TensorTable {
  std::vector<TensorSlot> slots = std::vector<TensorSlot>(1);  // id 0 is never used
  std::vector<uint32_t> freeSlots;
  int64_t liveCount = 0;
  std::unordered_map<const void*, StorageUse> storages;
};

// Per-addon-instance state: the tensor table and the constructors needed to create JS
// wrappers from C++.
struct AddonData {
  TensorTable tensors;
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

// Tensors live in a table owned by the addon; JS holds their integer ids. No per-tensor JS
// wrapper object or N-API finalizer exists, so a long synchronous loop that disposes its
// tensors holds flat memory (deferred N-API finalizers would otherwise pile up until the
// event loop turns).
class TensorWrap {
 public:
  // Registers the tensor's JS functions on `exports` under `tensor`.
  static void Init(Napi::Env env, Napi::Object exports);
  // Stores t and returns its id (null for an undefined tensor).
  static Napi::Value Wrap(Napi::Env env, at::Tensor t);
  static bool IsTensor(Napi::Env env, const Napi::Value& v);
  // Throws a JS error when v is not the id of a live tensor.
  static at::Tensor& From(Napi::Env env, const Napi::Value& v);
  // Call after the tensor of id v was given another storage (set_data): moves its count.
  static void Recount(Napi::Env env, const Napi::Value& v);
  static int64_t LiveCount(Napi::Env env);
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
Napi::Function InitScriptModule(Napi::Env env);
// Tensors become ids, None null, tuples and lists arrays, dicts objects, scalars numbers.
Napi::Value FromIValue(Napi::Env env, const c10::IValue& v);
Napi::Function InitOptimizer(Napi::Env env);
void InitDevice(Napi::Env env, Napi::Object exports);
void InitDistributed(Napi::Env env, Napi::Object exports);
void InitPool(Napi::Env env, Napi::Object exports);
void InitWindow(Napi::Env env, Napi::Object exports);
void InitConv(Napi::Env env, Napi::Object exports);
// Whether autocast is on for the device type (device.cc; its API moved in libtorch 2.4).
bool AutocastEnabled(c10::DeviceType t);
void InitFabProjection(Napi::Env env, Napi::Object exports);
void InitConvStack(Napi::Env env, Napi::Object exports);

// Helpers shared between translation units.
at::ScalarType ParseDtype(Napi::Env env, const std::string& name);
std::string DtypeName(at::ScalarType t);
std::vector<int64_t> ToIntVector(Napi::Env env, const Napi::Value& v, const char* what);
std::vector<at::Tensor> ToTensorVector(Napi::Env env, const Napi::Value& v, const char* what);
// A device string ('cpu', 'cuda', 'cuda:1', 'meta'); undefined or null is the CPU.
c10::Device DeviceArg(Napi::Env env, const Napi::Value& v);

}  // namespace sauron
