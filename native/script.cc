// TorchScript modules (torch.jit.save files) and PyTorch pickles (torch.save files), so users'
// own PyTorch models can be analysed. Load (refusing tensors that reach past the bytes the
// file holds), call, list parameters, and capture a submodule's output inside the model's
// own forward; which submodule and how outputs become features is decided in TypeScript.
#include "common.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/script_type_parser.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/csrc/jit/serialization/unpickler.h>
#include <torch/script.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace sauron {

namespace {

std::string Shape(const at::Tensor& t) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < t.sizes().size(); i++) o << (i ? ", " : "") << t.sizes()[i];
  o << "]";
  return o.str();
}

// Why tensor `t` may not be used ("" when it may): its elements must lie inside its storage,
// and its storage inside the bytes the file's record for it holds (`recordBytes`, by data
// pointer). libtorch 1.13 takes both sizes from the pickle without looking at the record.
std::string CheckTensor(const at::Tensor& t, const std::string& name, const std::unordered_map<const void*, size_t>& recordBytes) {
  if (!t.defined()) return "";
  if (t.layout() != at::kStrided) return "tensor " + name + " is not a dense tensor (Sauron reads dense tensors only)";
  const at::Storage& storage = t.storage();
  auto record = recordBytes.find(storage.data_ptr().get());
  size_t stored = storage.nbytes();
  if (stored > 0 && record == recordBytes.end()) return "tensor " + name + "'s storage is not one of the file's records";
  if (record != recordBytes.end() && stored > record->second) {
    return "tensor " + name + "'s storage claims " + std::to_string(stored) + " bytes, its record in the file holds " + std::to_string(record->second);
  }
  if (t.numel() == 0) return "";
  int64_t item = static_cast<int64_t>(t.element_size());
  // the last element's index + 1, in elements of the storage; overflow means out of range
  int64_t end = t.storage_offset();
  bool bad = end < 0;
  for (size_t d = 0; d < t.sizes().size() && !bad; d++) {
    int64_t step = 0;
    bad = t.strides()[d] < 0 || __builtin_mul_overflow(t.sizes()[d] - 1, t.strides()[d], &step) || __builtin_add_overflow(end, step, &end);
  }
  int64_t available = static_cast<int64_t>(stored) / item;
  if (bad || end >= available) {
    return "tensor " + name + " " + Shape(t) + " (" + DtypeName(t.scalar_type()) + ", offset " + std::to_string(t.storage_offset()) + ") needs " +
           (bad ? std::string("more") : std::to_string(end + 1)) + " elements, its storage in the file holds " + std::to_string(available);
  }
  return "";
}

// Every tensor reachable from `root` (object attributes, lists, tuples, dicts), each checked;
// iterative, as a crafted pickle may nest deeply or refer to itself.
std::string CheckTensorsIn(const c10::IValue& root, const std::string& rootName, const std::unordered_map<const void*, size_t>& recordBytes) {
  std::vector<std::pair<c10::IValue, std::string>> todo{{root, rootName}};
  std::unordered_set<const void*> seen;
  auto join = [](const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; };
  while (!todo.empty()) {
    auto [v, name] = std::move(todo.back());
    todo.pop_back();
    if (v.isTensor()) {
      std::string why = CheckTensor(v.toTensor(), name, recordBytes);
      if (!why.empty()) return why;
    } else if (v.isObject()) {
      auto obj = v.toObject();
      if (!seen.insert(obj.get()).second) continue;
      for (size_t i = 0; i < obj->slots().size(); i++) {
        auto type = obj->type();
        std::string attr = i < type->numAttributes() ? type->getAttributeName(i) : std::to_string(i);
        todo.emplace_back(obj->getSlot(i), join(name, attr));
      }
    } else if (v.isList()) {
      if (!seen.insert(v.internalToPointer()).second) continue;
      auto list = v.toListRef();
      for (size_t i = 0; i < list.size(); i++) todo.emplace_back(list[i], join(name, std::to_string(i)));
    } else if (v.isTuple()) {
      if (!seen.insert(v.internalToPointer()).second) continue;
      const auto& items = v.toTupleRef().elements();
      for (size_t i = 0; i < items.size(); i++) todo.emplace_back(items[i], join(name, std::to_string(i)));
    } else if (v.isGenericDict()) {
      if (!seen.insert(v.internalToPointer()).second) continue;
      for (const auto& e : v.toGenericDict()) {
        todo.emplace_back(e.key(), join(name, "(key)"));
        todo.emplace_back(e.value(), join(name, e.key().isString() ? e.key().toStringRef() : "(value)"));
      }
    }
  }
  return "";
}

// The classes a loaded module's code defined (and registered C++ classes), by name.
struct ClassResolver : torch::jit::Resolver {
  explicit ClassResolver(std::shared_ptr<torch::jit::CompilationUnit> cu) : cu_(std::move(cu)) {}
  c10::TypePtr resolveType(const std::string& name, const torch::jit::SourceRange&) override {
    if (c10::TypePtr type = cu_->get_type(name)) return type;
    return torch::getCustomClass(name);
  }
  std::shared_ptr<torch::jit::CompilationUnit> cu_;
};

// Reads the file's pickles again (data.pkl: the module tree, constants.pkl: the code's tensor
// constants) with libtorch's own unpickler, noting each storage record's true size, and
// checks every tensor against it. Names resolve as torch::jit::load resolves them: classes
// of the loaded module's code, and type expressions (the type tags of lists and dicts, e.g.
// "List[__torch__.Box]"). No __setstate__ runs here: such state is checked as it stands.
std::string CheckFileTensors(const std::string& path, const torch::jit::Module& loaded) {
  caffe2::serialize::PyTorchStreamReader reader(path);
  auto cu = loaded.type()->compilation_unit();
  torch::jit::ScriptTypeParser types(std::make_shared<ClassResolver>(cu));
  for (const std::string archive : {"data", "constants"}) {
    if (!reader.hasRecord(archive + ".pkl")) continue;
    auto pickle = reader.getRecord(archive + ".pkl");
    const char* bytes = static_cast<const char*>(std::get<0>(pickle).get());
    size_t size = std::get<1>(pickle), pos = 0;
    auto read = [&](char* buf, size_t len) -> size_t {
      size_t n = std::min(len, size - pos);
      if (n) std::memcpy(buf, bytes + pos, n);
      pos += n;
      return n;
    };
    std::unordered_map<const void*, size_t> recordBytes;
    auto readRecord = [&](const std::string& key) -> at::DataPtr {
      auto record = reader.getRecord(archive + "/" + key);
      recordBytes[std::get<0>(record).get()] = std::get<1>(record);
      return std::move(std::get<0>(record));
    };
    auto resolve = [&](const c10::QualifiedName& qn) -> c10::StrongTypePtr {
      c10::TypePtr type = cu->get_type(qn);
      return c10::StrongTypePtr(cu, type ? type : types.parseType(qn.qualifiedName()));
    };
    std::vector<std::pair<c10::IValue, std::string>> states;
    auto makeObject = [&](const c10::StrongTypePtr& type, c10::IValue state) {
      auto cls = type.type_->expect<c10::ClassType>();
      auto obj = c10::ivalue::Object::create(type, cls->numAttributes());
      if (cls->findMethod("__setstate__") || !state.isGenericDict()) {
        states.emplace_back(std::move(state), "the state of a " + cls->name()->qualifiedName() + " object");
      } else {
        auto dict = state.toGenericDict();
        for (size_t i = 0; i < cls->numAttributes(); i++) {
          auto it = dict.find(cls->getAttributeName(i));
          if (it != dict.end()) obj->setSlot(i, it->value());
        }
      }
      return obj;
    };
    torch::jit::Unpickler unpickler(read, resolve, makeObject, readRecord, {});
    unpickler.set_version(reader.version());
    c10::IValue root = unpickler.parse_ivalue();
    std::string why = CheckTensorsIn(root, archive == "data" ? "" : "constant", recordBytes);
    for (size_t i = 0; why.empty() && i < states.size(); i++) why = CheckTensorsIn(states[i].first, states[i].second, recordBytes);
    if (!why.empty()) return why;
  }
  return "";
}

std::string Join(const std::vector<std::string>& parts, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < parts.size(); i++) s += (i ? "." : "") + parts[i];
  return s;
}

// Every node of `block` and its nested blocks.
void AllNodes(torch::jit::Block* block, std::vector<torch::jit::Node*>& out) {
  for (torch::jit::Node* n : block->nodes()) {
    out.push_back(n);
    for (torch::jit::Block* b : n->blocks()) AllNodes(b, out);
  }
}

// Inlines every method call on the module values `selves` (their forward and any other
// method, e.g. torchvision's _forward_impl) until none is left, so the graph shows what those
// modules do with their own submodules. The callee's unoptimised graph keeps its calls.
void InlineCallsOn(torch::jit::Graph& graph, const std::unordered_set<torch::jit::Value*>& selves) {
  for (bool again = true; again;) {
    again = false;
    std::vector<torch::jit::Node*> nodes;
    AllNodes(graph.block(), nodes);
    for (torch::jit::Node* n : nodes) {
      if (n->kind() != c10::prim::CallMethod || !selves.count(n->input(0))) continue;
      auto cls = n->input(0)->type()->cast<c10::ClassType>();
      if (!cls) throw std::runtime_error("a call through a module interface cannot be followed");
      torch::jit::GraphFunction& fn = torch::jit::toGraphFunction(cls->getMethod(n->s(c10::attr::name)));
      torch::jit::inlineCallTo(n, &fn, fn.graph().get());
      again = true;
    }
  }
}

// The model's forward with a second output: a copy of what the submodule at `path` returns
// in it, (output, features). The submodule's call stays a call; the modules on the way to it
// are inlined. Refused in one line when the features would not be one tensor per forward.
std::shared_ptr<torch::jit::GraphFunction> CaptureForward(const torch::jit::Module& root, const std::vector<std::string>& path) {
  auto graph = root.get_method("forward").graph()->copy();
  std::unordered_set<torch::jit::Value*> selves{graph->inputs()[0]};
  torch::jit::Module cur = root;
  std::string dotted = Join(path, path.size());
  for (size_t k = 0; k < path.size(); k++) {
    std::string where = k ? Join(path, k) : "the model";
    std::vector<std::string> names;
    c10::optional<torch::jit::Module> child;
    for (const auto& c : cur.named_children()) {
      names.push_back(c.name);
      if (c.name == path[k]) child = c.value;
    }
    if (!child) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      throw std::runtime_error(where + " has no submodule '" + path[k] + "' (" + (list.empty() ? "it has no submodules" : "its submodules: " + list) + ")");
    }
    InlineCallsOn(*graph, selves);
    std::unordered_set<torch::jit::Value*> next;
    std::vector<torch::jit::Node*> nodes;
    AllNodes(graph->block(), nodes);
    for (torch::jit::Node* n : nodes) {
      if (n->kind() == c10::prim::GetAttr && n->s(c10::attr::name) == path[k] && selves.count(n->input(0))) next.insert(n->output());
    }
    if (next.empty()) throw std::runtime_error(Join(path, k + 1) + " is never used by the model's forward");
    selves = std::move(next);
    cur = *child;
  }
  // every call counts: a traced module called twice has its second call as method forward1
  std::vector<torch::jit::Node*> nodes, calls;
  AllNodes(graph->block(), nodes);
  for (torch::jit::Node* n : nodes) {
    if (n->kind() == c10::prim::CallMethod && selves.count(n->input(0))) calls.push_back(n);
  }
  if (calls.empty()) throw std::runtime_error(dotted + " is never called by the model's forward");
  if (calls.size() > 1) {
    throw std::runtime_error(dotted + " is called " + std::to_string(calls.size()) + " times by the model's forward; its output must be computed once");
  }
  torch::jit::Node* call = calls[0];
  if (call->s(c10::attr::name) != "forward") {
    throw std::runtime_error("the model's forward calls " + dotted + "." + call->s(c10::attr::name) + "(), not " + dotted + "'s forward");
  }
  if (call->owningBlock() != graph->block()) {
    torch::jit::Node* outer = call->owningBlock()->owningNode();
    while (outer->owningBlock() != graph->block()) outer = outer->owningBlock()->owningNode();
    std::string what = outer->kind() == c10::prim::If ? "an if (prim::If)" : outer->kind() == c10::prim::Loop ? "a loop (prim::Loop)" : outer->kind().toQualString();
    throw std::runtime_error(dotted + " is called inside " + what + " of the model's forward; its output must be computed once on every forward");
  }
  if (call->outputs().size() != 1 || !call->output()->type()->isSubtypeOf(*c10::TensorType::get())) {
    throw std::runtime_error(dotted + " returns " + (call->outputs().size() == 1 ? call->output()->type()->repr_str() : std::string("several values")) + ", not a tensor");
  }
  torch::jit::Value* features = nullptr;
  {
    // a copy taken at once: the model may change the submodule's output in place later on
    torch::jit::WithInsertPoint at(call->next());
    features = graph->insert(c10::aten::clone, {call->output()});
  }
  torch::jit::WithInsertPoint at(graph->return_node());
  torch::jit::Node* both = graph->insertNode(graph->createTuple({graph->outputs()[0], features}));
  graph->eraseOutput(0);
  graph->registerOutput(both->output());
  return std::make_shared<torch::jit::GraphFunction>(c10::QualifiedName("__torch__.sauron.captured_forward"), graph, nullptr);
}

class ScriptModuleWrap : public Napi::ObjectWrap<ScriptModuleWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeScriptModule",
                       {
                           InstanceMethod<&ScriptModuleWrap::Forward>("forward"),
                           InstanceMethod<&ScriptModuleWrap::NamedParameters>("namedParameters"),
                           InstanceMethod<&ScriptModuleWrap::NamedBuffers>("namedBuffers"),
                           InstanceMethod<&ScriptModuleWrap::ChildNames>("childNames"),
                           InstanceMethod<&ScriptModuleWrap::Capture>("capture"),
                           InstanceMethod<&ScriptModuleWrap::ForwardCaptured>("forwardCaptured"),
                           InstanceMethod<&ScriptModuleWrap::Train>("train"),
                           InstanceMethod<&ScriptModuleWrap::Save>("save"),
                           InstanceMethod<&ScriptModuleWrap::TypeName>("typeName"),
                           InstanceMethod<&ScriptModuleWrap::RegisterTensor>("registerTensor"),
                           InstanceMethod<&ScriptModuleWrap::Define>("define"),
                           InstanceMethod<&ScriptModuleWrap::To>("to"),
                       });
  }

  // new NativeScriptModule(path[, false, device]) loads a file (onto the CPU without a device),
  // new NativeScriptModule(name, true) is an empty module that TypeScript fills (export).
  explicit ScriptModuleWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ScriptModuleWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "NativeScriptModule(path)");
    std::string path = info[0].As<Napi::String>().Utf8Value();
    if (info.Length() > 1 && info[1].ToBoolean().Value()) {
      SAURON_GUARD(env, { module_ = torch::jit::Module(c10::QualifiedName("__torch__." + path)); })
      return;
    }
    // A third argument maps the file's tensors onto a device, as torch.jit.load's map_location.
    // The file is first loaded on the CPU, where loading copies no tensor data, and checked;
    // only then is it loaded onto another device (which copies each storage whole).
    c10::Device device = DeviceArg(env, info.Length() > 2 ? info[2] : env.Undefined());
    std::string unsafe;
    SAURON_GUARD(env, {
      module_ = torch::jit::load(path, c10::Device(c10::kCPU));
      unsafe = CheckFileTensors(path, module_);
      if (unsafe.empty() && !device.is_cpu()) module_ = torch::jit::load(path, device);
    })
    if (!unsafe.empty()) {
      auto err = Napi::Error::New(env, unsafe);
      err.Set("unsafeTensor", Napi::Boolean::New(env, true));
      throw err;
    }
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

  // capture(path): from now on forwardCaptured returns (forward's output, the output of the
  // submodule at the dotted `path`), computed by the model's own forward.
  Napi::Value Capture(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "capture(path)");
    std::string dotted = info[0].As<Napi::String>().Utf8Value();
    std::vector<std::string> path;
    std::stringstream in(dotted);
    for (std::string part; std::getline(in, part, '.');) path.push_back(part);
    if (dotted.empty() || dotted.back() == '.' || std::find(path.begin(), path.end(), "") != path.end()) {
      throw Napi::Error::New(env, "'" + dotted + "' is not a submodule path (names joined by dots, e.g. net.avgpool)");
    }
    SAURON_GUARD(env, { captured_ = CaptureForward(module_, path); })
    return env.Undefined();
  }

  Napi::Value ForwardCaptured(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!captured_) throw Napi::Error::New(env, "forwardCaptured before capture");
    std::vector<c10::IValue> inputs{module_._ivalue()};
    for (size_t i = 0; i < info.Length(); i++) inputs.emplace_back(TensorWrap::From(env, info[i]));
    SAURON_GUARD(env, { return FromIValue(env, (*captured_)(std::move(inputs))); })
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
  std::shared_ptr<torch::jit::GraphFunction> captured_;
};

}  // namespace

Napi::Function InitScriptModule(Napi::Env env) { return ScriptModuleWrap::Init(env); }

}  // namespace sauron
