// 2-d convolution: libtorch's conv2d, except for the input gradient of a convolution with one to
// three input channels (an image model's first layer) on CPU float32. There oneDNN's backward
// for the input was several times slower than its forward, and slower than libtorch's own
// im2col kernel (_slow_conv2d_backward) doing the same sum (BENCHMARKS.md, "Attack step: the
// first convolution's input gradient"). The forward and the weight and bias gradients stay
// libtorch's conv2d and convolution_backward, so a model's outputs do not change; the input
// gradient is the same sum, in the slow kernel's order. Under create_graph (a gradient of a
// gradient) every gradient is convolution_backward's, which libtorch differentiates again.
#include "common.h"

#include <torch/csrc/autograd/custom_function.h>

namespace sauron {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A number or a list of one or two integers, as libtorch's int[2] arguments take them.
std::vector<int64_t> Pair(Napi::Env env, const Napi::Value& v, const char* name) {
  const std::string what = std::string("conv2d: ") + name;
  Napi::Value list = v;
  if (!v.IsArray()) {
    auto one = Napi::Array::New(env, 1);
    one.Set(0u, v);
    list = one;
  }
  std::vector<int64_t> k = ToIntVector(env, list, what.c_str());
  if (k.size() == 1) k.push_back(k[0]);
  if (k.size() != 2) throw Napi::TypeError::New(env, what + " must be an integer or a pair of integers");
  return k;
}

// Few input channels, CPU float32 (no autocast), no dilation or groups, and an input gradient wanted now.
bool FewChannels(const at::Tensor& x, const at::Tensor& w, const std::vector<int64_t>& dilation, int64_t groups) {
  return x.requires_grad() && at::GradMode::is_enabled() && x.device().is_cpu() && !AutocastEnabled(c10::DeviceType::CPU) &&
         x.scalar_type() == at::kFloat &&
         w.scalar_type() == at::kFloat && x.dim() == 4 && w.dim() == 4 && groups == 1 && dilation[0] == 1 && dilation[1] == 1 &&
         x.size(1) >= 1 && x.size(1) <= 3 && x.size(1) == w.size(1) && x.numel() > 0;
}

// Saves what the backward needs and runs libtorch's conv2d.
at::Tensor Forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const std::vector<int64_t>& stride,
                   const std::vector<int64_t>& padding) {
  ctx->save_for_backward({x, w});
  ctx->saved_data["stride"] = stride;
  ctx->saved_data["padding"] = padding;
  return at::conv2d(x, w, b, stride, padding);
}

// The gradients of x, w and (hasBias) b.
std::tuple<at::Tensor, at::Tensor, at::Tensor> Backward(AutogradContext* ctx, const variable_list& grads, bool hasBias) {
  auto saved = ctx->get_saved_variables();
  const at::Tensor& x = saved[0];
  const at::Tensor& w = saved[1];
  const auto stride = ctx->saved_data["stride"].toIntVector();
  const auto padding = ctx->saved_data["padding"].toIntVector();
  const at::Tensor go = grads[0].contiguous();
  const bool wantX = ctx->needs_input_grad(0), wantW = ctx->needs_input_grad(1), wantB = hasBias && ctx->needs_input_grad(2);
  const std::vector<int64_t> biasSizes{w.size(0)};
  const std::vector<int64_t> one{1, 1}, none{0, 0};
  if (at::GradMode::is_enabled())
    return at::convolution_backward(go, x, w, biasSizes, stride, padding, one, false, none, 1, {wantX, wantW, wantB});
  at::Tensor gx, gw, gb;
  if (wantX) gx = std::get<0>(at::_slow_conv2d_backward(go, x, w, {w.size(2), w.size(3)}, stride, padding, {true, false, false}));
  if (wantW || wantB)
    std::tie(std::ignore, gw, gb) = at::convolution_backward(go, x, w, biasSizes, stride, padding, one, false, none, 1, {false, wantW, wantB});
  return {gx, gw, gb};
}

// libtorch's custom Functions take no undefined tensor, hence one Function with a bias and one without.
struct FewChannelConvFn : public torch::autograd::Function<FewChannelConvFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::Tensor w, at::Tensor b, std::vector<int64_t> stride,
                            std::vector<int64_t> padding) {
    return Forward(ctx, x, w, b, stride, padding);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto [gx, gw, gb] = Backward(ctx, grads, true);
    return {gx, gw, gb, at::Tensor(), at::Tensor()};
  }
};

struct FewChannelConvNoBiasFn : public torch::autograd::Function<FewChannelConvNoBiasFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::Tensor w, std::vector<int64_t> stride, std::vector<int64_t> padding) {
    return Forward(ctx, x, w, at::Tensor(), stride, padding);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto [gx, gw, gb] = Backward(ctx, grads, false);
    return {gx, gw, at::Tensor(), at::Tensor()};
  }
};

// conv2d(x, w, b | null, stride, padding, dilation, groups): torch.nn.functional.conv2d.
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor x = TensorWrap::From(env, info[0]);
  at::Tensor w = TensorWrap::From(env, info[1]);
  at::Tensor b = info[2].IsNull() || info[2].IsUndefined() ? at::Tensor() : TensorWrap::From(env, info[2]);
  const auto stride = Pair(env, info[3], "stride");
  const auto padding = Pair(env, info[4], "padding");
  const auto dilation = Pair(env, info[5], "dilation");
  if (info[6].IsArray()) throw Napi::TypeError::New(env, "conv2d: groups must be an integer");
  const int64_t groups = Pair(env, info[6], "groups")[0];
  SAURON_GUARD(env, {
    if (FewChannels(x, w, dilation, groups))
      return TensorWrap::Wrap(env, b.defined() ? FewChannelConvFn::apply(x, w, b, stride, padding)
                                               : FewChannelConvNoBiasFn::apply(x, w, stride, padding));
    return TensorWrap::Wrap(env, at::conv2d(x, w, b, stride, padding, dilation, groups));
  })
}

}  // namespace

void InitConv(Napi::Env env, Napi::Object exports) { exports.Set("conv2d", Napi::Function::New(env, Conv2d)); }

}  // namespace sauron
