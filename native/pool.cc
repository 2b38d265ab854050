// Max pooling whose windows tile the input (kernel = stride, no padding, no dilation, floor
// mode), as every CNN here pools. libtorch's CPU kernel for contiguous (NCHW) float input walks
// one output at a time through general window bounds: on the default Fashion-MNIST model it
// was a fifth of an attack step, longer than a convolution's forward (BENCHMARKS.md, "Attack
// step: max pooling"). This forward gives libtorch's exact values and indices (the first
// maximum in window order, NaN winning as libtorch's `val > max || isnan(val)` does), and the
// backward is libtorch's own max_pool2d_with_indices_backward, so gradients are bit-identical.
// Anything else (other layouts, dtypes, devices, window shapes) is libtorch's max_pool2d.
// The addon compiles with -fopenmp because at::parallel_for is OpenMP pragmas in ATen's headers;
// it links no OpenMP runtime of its own, so the pragmas run on libtorch's (its libgomp).
#include "common.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

namespace sauron {

// poolKernel.cc (idx null: the values alone)
void MaxPoolTiledRows(const float* in, float* out, int64_t* idx, int64_t begin, int64_t end, int64_t oh, int64_t ow,
                      int64_t h, int64_t w, int64_t kh, int64_t kw);

namespace {

bool Tiled(const at::Tensor& x, int64_t kh, int64_t kw) {
  // empty inputs too go to libtorch, which refuses some (no channels) and passes others
  return x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 4 && x.is_contiguous() && x.numel() > 0 &&
         kh >= 1 && kw >= 1 && x.size(2) >= kh && x.size(3) >= kw;
}

// The pooled values and, when `indices` (a backward will need them), each one's index in its plane.
std::tuple<at::Tensor, at::Tensor> TiledForward(const at::Tensor& x, int64_t kh, int64_t kw, bool indices = true) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t oh = h / kh, ow = w / kw;
  auto out = at::empty({n, c, oh, ow}, x.options());
  auto idx = indices ? at::empty({n, c, oh, ow}, x.options().dtype(at::kLong)) : at::Tensor();
  const float* in = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  int64_t* ix = indices ? idx.data_ptr<int64_t>() : nullptr;
  const int64_t rows = n * c * oh;
  // a task of about 16k inputs: small planes would otherwise pay a thread's start per row
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, ow * kh * kw));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    MaxPoolTiledRows(in, o, ix, begin, end, oh, ow, h, w, kh, kw);
  });
  return {out, idx};
}

struct TiledMaxPoolFn : public torch::autograd::Function<TiledMaxPoolFn> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, int64_t kh, int64_t kw) {
    auto [out, idx] = TiledForward(x, kh, kw);
    ctx->save_for_backward({x, idx});
    ctx->saved_data["kh"] = kh;
    ctx->saved_data["kw"] = kw;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const int64_t kh = ctx->saved_data["kh"].toInt();
    const int64_t kw = ctx->saved_data["kw"].toInt();
    // libtorch's backward for the indices libtorch's forward would have produced
    auto gx = at::max_pool2d_with_indices_backward(grads[0], saved[0], {kh, kw}, {kh, kw}, {0, 0}, {1, 1}, false, saved[1]);
    return {gx, at::Tensor(), at::Tensor()};
  }
};

// maxPool2dTiled(x, kh, kw): max_pool2d(x, [kh, kw], [kh, kw], 0, 1, false).
Napi::Value MaxPool2dTiled(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor x = TensorWrap::From(env, info[0]);
  const int64_t kh = info[1].As<Napi::Number>().Int64Value();
  const int64_t kw = info[2].As<Napi::Number>().Int64Value();
  SAURON_GUARD(env, {
    if (!Tiled(x, kh, kw)) return TensorWrap::Wrap(env, at::max_pool2d(x, {kh, kw}, {kh, kw}, {0, 0}, {1, 1}, false));
    // no graph to record (Square's local queries): the values alone
    if (!(at::GradMode::is_enabled() && x.requires_grad())) return TensorWrap::Wrap(env, std::get<0>(TiledForward(x, kh, kw, false)));
    return TensorWrap::Wrap(env, TiledMaxPoolFn::apply(x, kh, kw));
  })
}

}  // namespace

void InitPool(Napi::Env env, Napi::Object exports) {
  exports.Set("maxPool2dTiled", Napi::Function::New(env, MaxPool2dTiled));
}

}  // namespace sauron
