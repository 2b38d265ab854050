// One generic call for every ATen operator: look the operator up once in libtorch's
// registry (the dispatcher), then convert JS arguments by the operator's schema and call it
// boxed. Autograd, type promotion and kernels all come from libtorch's own dispatch path,
// the same one TorchScript uses, so the TypeScript layer needs no per-op C++.
#include "common.h"

namespace sauron {

namespace {

using c10::IValue;
using c10::TypeKind;
using c10::TypePtr;

bool IsNone(const Napi::Value& v) { return v.IsNull() || v.IsUndefined(); }

int64_t ToInt(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Int64Value(&lossless);
  }
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "argument '" + name + "' must be an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == static_cast<double>(static_cast<int64_t>(d))))
    throw Napi::TypeError::New(env, "argument '" + name + "' must be an integer, got " + v.ToString().Utf8Value());
  return static_cast<int64_t>(d);
}

double ToDouble(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (v.IsNumber()) return v.As<Napi::Number>().DoubleValue();
  if (v.IsBigInt()) {
    bool lossless;
    return static_cast<double>(v.As<Napi::BigInt>().Int64Value(&lossless));
  }
  if (v.IsObject() && v.As<Napi::Object>().Has("float")) return ToDouble(env, v.As<Napi::Object>().Get("float"), name);
  throw Napi::TypeError::New(env, "argument '" + name + "' must be a number");
}

at::Scalar ToScalar(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  if (v.IsBigInt()) {
    bool lossless;
    return at::Scalar(static_cast<int64_t>(v.As<Napi::BigInt>().Int64Value(&lossless)));
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    // Integral values stay integral, as Python's int does; the facade passes floats
    // explicitly (via {float: x}) where the distinction matters.
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9007199254740992.0)
      return at::Scalar(static_cast<int64_t>(d));
    return at::Scalar(d);
  }
  if (v.IsObject()) {
    auto o = v.As<Napi::Object>();
    if (o.Has("float")) return at::Scalar(ToDouble(env, o.Get("float"), name));
  }
  throw Napi::TypeError::New(env, "argument '" + name + "' must be a number");
}

int64_t EnumArg(Napi::Env env, const Napi::Value& v, TypeKind kind, const std::string& name) {
  if (v.IsNumber()) return ToInt(env, v, name);
  if (!v.IsString()) throw Napi::TypeError::New(env, "argument '" + name + "' must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  switch (kind) {
    case TypeKind::ScalarTypeType: return static_cast<int64_t>(ParseDtype(env, s));
    case TypeKind::LayoutType:
      if (s == "strided") return static_cast<int64_t>(at::kStrided);
      break;
    case TypeKind::MemoryFormatType:
      if (s == "contiguous") return static_cast<int64_t>(at::MemoryFormat::Contiguous);
      if (s == "preserve") return static_cast<int64_t>(at::MemoryFormat::Preserve);
      if (s == "channels_last") return static_cast<int64_t>(at::MemoryFormat::ChannelsLast);
      break;
    default: break;
  }
  throw Napi::TypeError::New(env, "argument '" + name + "': unknown value '" + s + "'");
}

IValue ToIValue(Napi::Env env, const Napi::Value& v, const TypePtr& real, c10::optional<int32_t> n,
                const std::string& name) {
  TypeKind kind = real->kind();
  if (kind == TypeKind::OptionalType) {
    if (IsNone(v)) return IValue();
    return ToIValue(env, v, real->expectRef<c10::OptionalType>().getElementType(), n, name);
  }
  switch (kind) {
    case TypeKind::TensorType:
      if (!TensorWrap::IsTensor(env, v)) throw Napi::TypeError::New(env, "argument '" + name + "' must be a tensor");
      return IValue(TensorWrap::From(env, v));
    case TypeKind::IntType:
    case TypeKind::SymIntType: return IValue(ToInt(env, v, name));
    case TypeKind::FloatType: return IValue(ToDouble(env, v, name));
    case TypeKind::BoolType: return IValue(v.ToBoolean().Value());
    case TypeKind::NumberType: return IValue(ToScalar(env, v, name));
    case TypeKind::StringType:
      if (!v.IsString()) throw Napi::TypeError::New(env, "argument '" + name + "' must be a string");
      return IValue(v.As<Napi::String>().Utf8Value());
    case TypeKind::ScalarTypeType:
    case TypeKind::LayoutType:
    case TypeKind::MemoryFormatType: return IValue(EnumArg(env, v, kind, name));
    case TypeKind::DeviceObjType:
      if (!v.IsString()) throw Napi::TypeError::New(env, "argument '" + name + "' must be a device string");
      return IValue(c10::Device(v.As<Napi::String>().Utf8Value()));
    case TypeKind::GeneratorType: return IValue(GeneratorWrap::From(env, v));
    case TypeKind::ListType: {
      TypePtr elem = real->expectRef<c10::ListType>().getElementType();
      TypeKind ek = elem->kind();
      if (ek == TypeKind::IntType || ek == TypeKind::SymIntType) {
        if (v.IsNumber() || v.IsBigInt()) {  // Python's int-for-int[2] convenience
          int64_t x = ToInt(env, v, name);
          return IValue(std::vector<int64_t>(n ? static_cast<size_t>(*n) : 1, x));
        }
        return IValue(ToIntVector(env, v, ("argument '" + name + "'").c_str()));
      }
      if (!v.IsArray()) throw Napi::TypeError::New(env, "argument '" + name + "' must be an array");
      auto arr = v.As<Napi::Array>();
      uint32_t len = arr.Length();
      if (ek == TypeKind::TensorType) return IValue(ToTensorVector(env, v, ("argument '" + name + "'").c_str()));
      if (ek == TypeKind::OptionalType &&
          elem->expectRef<c10::OptionalType>().getElementType()->kind() == TypeKind::TensorType) {
        c10::List<c10::optional<at::Tensor>> list;
        for (uint32_t i = 0; i < len; i++) {
          Napi::Value e = arr.Get(i);
          if (IsNone(e))
            list.push_back(c10::nullopt);
          else
            list.push_back(TensorWrap::From(env, e));
        }
        return IValue(list);
      }
      if (ek == TypeKind::FloatType) {
        std::vector<double> out(len);
        for (uint32_t i = 0; i < len; i++) out[i] = ToDouble(env, arr.Get(i), name);
        return IValue(out);
      }
      if (ek == TypeKind::BoolType) {
        c10::List<bool> out;
        for (uint32_t i = 0; i < len; i++) out.push_back(arr.Get(i).ToBoolean().Value());
        return IValue(out);
      }
      throw Napi::TypeError::New(env, "argument '" + name + "': unsupported list type " + real->str());
    }
    default:
      throw Napi::TypeError::New(env, "argument '" + name + "': unsupported type " + real->str());
  }
}

class OpWrap : public Napi::ObjectWrap<OpWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeOp",
                       {
                           InstanceMethod<&OpWrap::Call>("call"),
                           InstanceMethod<&OpWrap::Run>("run"),
                           InstanceMethod<&OpWrap::Schema>("schema"),
                       });
  }

  explicit OpWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OpWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "operator name expected");
    std::string name = info[0].As<Napi::String>().Utf8Value();
    std::string overload = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    if (name.find("::") == std::string::npos) name = "aten::" + name;
    auto found = c10::Dispatcher::singleton().findSchema({name, overload});
    if (!found.has_value())
      throw Napi::Error::New(env, "libtorch has no operator " + name + (overload.empty() ? "" : "." + overload));
    handle_ = *found;
  }

 private:
  // Calls the operator; when `wantResult` is false the outputs are dropped (in-place ops).
  Napi::Value Invoke(const Napi::CallbackInfo& info, bool wantResult) {
    Napi::Env env = info.Env();
    const c10::FunctionSchema& schema = handle_->schema();
    const auto& args = schema.arguments();
    if (info.Length() > args.size())
      throw Napi::TypeError::New(env, schema.name() + " takes at most " + std::to_string(args.size()) +
                                          " arguments, got " + std::to_string(info.Length()));
    torch::jit::Stack stack;
    SAURON_GUARD(env, {
    stack.reserve(std::max(args.size(), schema.returns().size()));
    for (size_t i = 0; i < args.size(); i++) {
      const auto& a = args[i];
      if (i < info.Length() && !info[i].IsUndefined()) {
        stack.push_back(ToIValue(env, info[i], a.real_type(), a.N(), a.name()));
      } else if (a.default_value().has_value()) {
        stack.push_back(*a.default_value());
      } else if (a.real_type()->kind() == TypeKind::OptionalType) {
        stack.emplace_back();
      } else {
        throw Napi::TypeError::New(env, toString(schema) + ": missing argument '" + a.name() + "'");
      }
    }
    handle_->callBoxed(stack);
    })
    if (!wantResult) return env.Undefined();
    if (stack.size() == 1) return FromIValue(env, stack[0]);
    auto arr = Napi::Array::New(env, stack.size());
    for (size_t i = 0; i < stack.size(); i++) arr.Set(i, FromIValue(env, stack[i]));
    return arr;
  }

  Napi::Value Call(const Napi::CallbackInfo& info) { return Invoke(info, true); }
  Napi::Value Run(const Napi::CallbackInfo& info) { return Invoke(info, false); }
  Napi::Value Schema(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), toString(handle_->schema())); }

  c10::optional<c10::OperatorHandle> handle_;
};

}  // namespace

Napi::Value FromIValue(Napi::Env env, const c10::IValue& v) {
  if (v.isTensor()) return TensorWrap::Wrap(env, v.toTensor());
  if (v.isNone()) return env.Null();
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isScalar()) {
    at::Scalar s = v.toScalar();
    return Napi::Number::New(env, s.isIntegral(false) ? static_cast<double>(s.toLong()) : s.toDouble());
  }
  if (v.isTensorList()) {
    auto list = v.toTensorList();
    auto arr = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) arr.Set(i, FromIValue(env, c10::IValue(list.get(i))));
    return arr;
  }
  if (v.isGenericDict()) {
    auto obj = Napi::Object::New(env);
    for (const auto& kv : v.toGenericDict()) {
      std::string key = kv.key().isString() ? kv.key().toStringRef()
                        : kv.key().isInt()  ? std::to_string(kv.key().toInt())
                                            : kv.key().tagKind();
      obj.Set(key, FromIValue(env, kv.value()));
    }
    return obj;
  }
  if (v.isTuple() || v.isList()) {
    std::vector<c10::IValue> elems;
    if (v.isTuple())
      for (const auto& e : v.toTupleRef().elements()) elems.push_back(e);
    else
      for (const auto& e : v.toListRef()) elems.push_back(e);
    auto arr = Napi::Array::New(env, elems.size());
    for (size_t i = 0; i < elems.size(); i++) arr.Set(i, FromIValue(env, elems[i]));
    return arr;
  }
  throw Napi::TypeError::New(env, "unsupported return type " + v.tagKind());
}


Napi::Function InitOp(Napi::Env env) { return OpWrap::Init(env); }

}  // namespace sauron
