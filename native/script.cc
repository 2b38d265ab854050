// TorchScript modules (torch.jit.save files) and PyTorch pickles (torch.save files), so users'
// own PyTorch models can be analysed. Thin: load, call, list parameters; the logic of how a
// model's features are found lives in TypeScript.
#include "common.h"

#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/script.h>

#include <fstream>
#include <iterator>

namespace sauron {

namespace {

class ScriptModuleWrap : public Napi::ObjectWrap<ScriptModuleWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeScriptModule",
                       {
                           InstanceMethod<&ScriptModuleWrap::Forward>("forward"),
                           InstanceMethod<&ScriptModuleWrap::NamedParameters>("namedParameters"),
                           InstanceMethod<&ScriptModuleWrap::NamedBuffers>("namedBuffers"),
                           InstanceMethod<&ScriptModuleWrap::ChildNames>("childNames"),
                           InstanceMethod<&ScriptModuleWrap::Child>("child"),
                           InstanceMethod<&ScriptModuleWrap::Train>("train"),
                           InstanceMethod<&ScriptModuleWrap::Save>("save"),
                           InstanceMethod<&ScriptModuleWrap::TypeName>("typeName"),
                           InstanceMethod<&ScriptModuleWrap::RegisterTensor>("registerTensor"),
                           InstanceMethod<&ScriptModuleWrap::Define>("define"),
                           InstanceMethod<&ScriptModuleWrap::To>("to"),
                       });
  }

  // new NativeScriptModule(path) loads a file; new NativeScriptModule(external) wraps a submodule.
  explicit ScriptModuleWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ScriptModuleWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() == 1 && info[0].IsExternal()) {
      auto* m = info[0].As<Napi::External<torch::jit::Module>>().Data();
      module_ = *m;
      delete m;
      return;
    }
    // new NativeScriptModule(path) or new NativeScriptModule(path, true) for an empty module
    // named `path` that TypeScript fills (export).
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "NativeScriptModule(path)");
    std::string path = info[0].As<Napi::String>().Utf8Value();
    if (info.Length() > 1 && info[1].ToBoolean().Value()) {
      SAURON_GUARD(env, { module_ = torch::jit::Module(c10::QualifiedName("__torch__." + path)); })
      return;
    }
    // A third argument maps the file's tensors onto a device, as torch.jit.load's map_location.
    bool mapped = info.Length() > 2 && info[2].IsString();
    c10::Device device = DeviceArg(env, mapped ? info[2] : env.Undefined());
    SAURON_GUARD(env, { module_ = mapped ? torch::jit::load(path, device) : torch::jit::load(path); })
  }

 private:
  Napi::Value To(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    c10::Device device = DeviceArg(env, info[0]);
    SAURON_GUARD(env, { module_.to(device); })
    return env.Undefined();
  }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<c10::IValue> inputs;
    for (size_t i = 0; i < info.Length(); i++) inputs.emplace_back(TensorWrap::From(env, info[i]));
    SAURON_GUARD(env, { return FromIValue(env, module_.forward(inputs)); })
  }

  Napi::Value Pairs(Napi::Env env, bool params) {
    auto arr = Napi::Array::New(env);
    uint32_t i = 0;
    SAURON_GUARD(env, {
      if (params) {
        for (const auto& p : module_.named_parameters(true)) {
          auto pair = Napi::Array::New(env, 2);
          pair.Set(0u, Napi::String::New(env, p.name));
          pair.Set(1u, TensorWrap::Wrap(env, p.value));
          arr.Set(i++, pair);
        }
      } else {
        for (const auto& p : module_.named_buffers(true)) {
          auto pair = Napi::Array::New(env, 2);
          pair.Set(0u, Napi::String::New(env, p.name));
          pair.Set(1u, TensorWrap::Wrap(env, p.value));
          arr.Set(i++, pair);
        }
      }
    })
    return arr;
  }

  Napi::Value NamedParameters(const Napi::CallbackInfo& info) { return Pairs(info.Env(), true); }
  Napi::Value NamedBuffers(const Napi::CallbackInfo& info) { return Pairs(info.Env(), false); }

  Napi::Value ChildNames(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto arr = Napi::Array::New(env);
    uint32_t i = 0;
    for (const auto& c : module_.named_children()) arr.Set(i++, Napi::String::New(env, c.name));
    return arr;
  }

  Napi::Value Child(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = info[0].As<Napi::String>().Utf8Value();
    for (const auto& c : module_.named_children()) {
      if (c.name == name) {
        auto* data = env.GetInstanceData<AddonData>();
        return data->scriptModuleCtor.New({Napi::External<torch::jit::Module>::New(env, new torch::jit::Module(c.value))});
      }
    }
    throw Napi::Error::New(env, "the module has no submodule '" + name + "'");
  }

  Napi::Value Train(const Napi::CallbackInfo& info) {
    SAURON_GUARD(info.Env(), { module_.train(info[0].ToBoolean().Value()); })
    return info.Env().Undefined();
  }

  Napi::Value Save(const Napi::CallbackInfo& info) {
    SAURON_GUARD(info.Env(), { module_.save(info[0].As<Napi::String>().Utf8Value()); })
    return info.Env().Undefined();
  }

  Napi::Value TypeName(const Napi::CallbackInfo& info) {
    auto name = module_.type()->name();
    return Napi::String::New(info.Env(), name ? name->qualifiedName() : "");
  }

  // registerTensor(name, id, isBuffer): a parameter or buffer the defined methods use.
  Napi::Value RegisterTensor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = info[0].As<Napi::String>().Utf8Value();
    at::Tensor& t = TensorWrap::From(env, info[1]);
    bool buffer = info[2].ToBoolean().Value();
    SAURON_GUARD(env, { module_.register_parameter(name, t.detach().clone(), buffer); })
    return env.Undefined();
  }

  // define(source): compiles TorchScript methods into the module.
  Napi::Value Define(const Napi::CallbackInfo& info) {
    SAURON_GUARD(info.Env(), { module_.define(info[0].As<Napi::String>().Utf8Value()); })
    return info.Env().Undefined();
  }

  torch::jit::Module module_;
};

// loadPickle(buffer): the object torch.save wrote (zip format).
Napi::Value LoadPickle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "loadPickle(buffer)");
  auto buf = info[0].As<Napi::Buffer<char>>();
  std::vector<char> data(buf.Data(), buf.Data() + buf.Length());
  SAURON_GUARD(env, { return FromIValue(env, torch::jit::pickle_load(data), true); })
}

}  // namespace

Napi::Function InitScriptModule(Napi::Env env) { return ScriptModuleWrap::Init(env); }

Napi::Value LoadPickleFn(const Napi::CallbackInfo& info) { return LoadPickle(info); }

}  // namespace sauron
