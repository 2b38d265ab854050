// FAB's Linf projection (src/attacks/fabProjections.ts, projectionLinf), one pass per row on CPU
// float32. Op by op in libtorch it is some thirty passes over [rows, pixels] tensors, a stable
// sort and a bisection of ten gathers; inside AutoAttack's FAB-T that was a fifth of the attack
// (BENCHMARKS.md, "FAB's Linf projection"). The arithmetic is the op-by-op version's, in the same
// float32 order: the row sums are libtorch's own sum (its summation order), the cumulative sums
// accumulate in double and round to float as libtorch's CPU cumsum does, and the sort is stable
// (a radix sort; equal keys keep their index order, NaN last), as Sauron's argsort. So the answer
// equals the op-by-op version's (test/unit/fabProjection.test.ts). The rows' own loops are in
// fabProjectionKernel.cc; here the checks, libtorch's row sums and the rows shared out to threads.
#include "common.h"
#include "fabProjectionKernel.h"

#include <ATen/Parallel.h>

#include <vector>

namespace sauron {
namespace {

// projectionLinf(t [n, D], w [n, D], b [n]) -> d [n, D], all CPU float32.
Napi::Value FabProjectionLinf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor t = TensorWrap::From(env, info[0]);
  at::Tensor w0 = TensorWrap::From(env, info[1]);
  at::Tensor b0in = TensorWrap::From(env, info[2]);
  SAURON_GUARD(env, {
    if (t.dim() != 2 || w0.sizes() != t.sizes() || b0in.dim() != 1 || b0in.size(0) != t.size(0))
      throw Napi::RangeError::New(env, "fabProjectionLinf: expected t and w [n, D] and b [n]");
    for (const at::Tensor* x : {&t, &w0, &b0in})
      if (!x->device().is_cpu() || x->scalar_type() != at::kFloat)
        throw Napi::TypeError::New(env, "fabProjectionLinf: expected CPU float32 tensors");
    const int64_t n = t.size(0), dim = t.size(1);
    if (dim < 1) throw Napi::RangeError::New(env, "fabProjectionLinf: rows of at least one coordinate expected");
    t = t.contiguous();
    w0 = w0.contiguous();
    b0in = b0in.contiguous();
    const float* T = t.data_ptr<float>();
    const float* W0 = w0.data_ptr<float>();
    const float* B0in = b0in.data_ptr<float>();
    // the row sums, in libtorch's order: <w0, t>, then <w, d> once the signs are known
    const at::Tensor s1 = at::mul(w0, t).sum(1).contiguous();
    const float* S1 = s1.data_ptr<float>();
    std::vector<float> sign(n);
    for (int64_t r = 0; r < n; r++) sign[r] = S1[r] - B0in[r] >= 0.f ? 1.f : -1.f;
    at::Tensor wd = at::empty({n, dim}, t.options());
    float* WD = wd.data_ptr<float>();
    at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; r++) FabOrientedProducts(W0 + r * dim, T + r * dim, sign[r], dim, WD + r * dim);
    });
    const at::Tensor b0sum = wd.sum(1).contiguous();
    const float* B0 = b0sum.data_ptr<float>();
    at::Tensor out = at::empty({n, dim}, t.options());
    float* OUT = out.data_ptr<float>();
    int64_t steps = 0;
    while ((int64_t{1} << steps) < dim) steps++;  // ceil(log2(D)), the reference's halvings
    at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
      std::vector<float> w(dim), d(dim), p(dim), s(dim), sb(dim);
      std::vector<uint32_t> keys(dim), keys2(dim);
      std::vector<int32_t> idx(dim), idx2(dim);
      FabScratch scratch{w.data(), d.data(), p.data(), s.data(), sb.data(), keys.data(), keys2.data(), idx.data(), idx2.data()};
      for (int64_t r = begin; r < end; r++) {
        const FabRow row{T + r * dim, W0 + r * dim, dim, sign[r], S1[r], B0in[r], B0[r], steps};
        FabProjectRow(row, scratch, OUT + r * dim);
      }
    });
    return TensorWrap::Wrap(env, out);
  })
}

}  // namespace

void InitFabProjection(Napi::Env env, Napi::Object exports) {
  exports.Set("fabProjectionLinf", Napi::Function::New(env, FabProjectionLinf));
}

}  // namespace sauron
