// FAB's Linf projection (src/attacks/fabProjections.ts, projectionLinf), one pass per row on CPU
// float32. Op by op in libtorch it is some thirty passes over [rows, pixels] tensors, a stable
// sort and a bisection of ten gathers; inside AutoAttack's FAB-T that was a fifth of the attack
// (BENCHMARKS.md, "FAB's Linf projection"). The arithmetic is the op-by-op version's, in the same
// float32 order: the row sums are libtorch's own sum (its summation order), the cumulative sums
// accumulate in double and round to float as libtorch's CPU cumsum does, and the sort is stable
// (a radix sort; equal keys keep their index order, NaN last), as Sauron's argsort. So the answer
// equals the op-by-op version's (test/unit/fabProjection.test.ts).
#if defined(__GNUC__) && !defined(__clang__)
// a * b + c must round twice, as libtorch's separate mul and add do
#pragma GCC optimize("fp-contract=off")
#endif

#include "common.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace sauron {
namespace {

// Order-preserving unsigned key of a float: -0 as +0, every NaN last (libtorch's sort order).
inline uint32_t Key(float v) {
  if (std::isnan(v)) return 0xFFFFFFFFu;
  if (v == 0.f) v = 0.f;
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Stable LSD radix sort of 0..n-1 by key, into idx (bytes where every key agrees are skipped).
void StableArgsort(const float* p, int64_t n, std::vector<uint32_t>& keys, std::vector<uint32_t>& keys2, std::vector<int32_t>& idx,
                   std::vector<int32_t>& idx2) {
  for (int64_t j = 0; j < n; j++) {
    keys[j] = Key(p[j]);
    idx[j] = static_cast<int32_t>(j);
  }
  for (int shift = 0; shift < 32; shift += 8) {
    int64_t count[257] = {0};
    for (int64_t j = 0; j < n; j++) count[((keys[j] >> shift) & 0xFF) + 1]++;
    bool one = false;
    for (int k = 1; k <= 256; k++)
      if (count[k] == n) one = true;
    if (one) continue;
    for (int k = 0; k < 256; k++) count[k + 1] += count[k];
    for (int64_t j = 0; j < n; j++) {
      const int64_t at = count[(keys[j] >> shift) & 0xFF]++;
      keys2[at] = keys[j];
      idx2[at] = idx[j];
    }
    keys.swap(keys2);
    idx.swap(idx2);
  }
}

// libtorch's minimum / maximum / clamp_min(0): NaN propagates.
inline float Minimum(float a, float b) { return std::isnan(a) || std::isnan(b) ? std::numeric_limits<float>::quiet_NaN() : (a < b ? a : b); }
inline float Maximum(float a, float b) { return std::isnan(a) || std::isnan(b) ? std::numeric_limits<float>::quiet_NaN() : (a > b ? a : b); }
inline float ClampMin0(float x) { return x < 0.f ? 0.f : x; }

// The row's sign flip and its start: w = w0 * sign, a = (w < 0), d = (a - t) * (w != 0).
struct Oriented {
  float sign;
  inline float W(float w0) const { return w0 * sign; }
  static inline float A(float w) { return w < 0.f ? 1.f : 0.f; }
  static inline float Moving(float w) { return w != 0.f ? 1.f : 0.f; }
  static inline float D(float w, float t) { return (A(w) - t) * Moving(w); }
};

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
      for (int64_t r = begin; r < end; r++) {
        const Oriented o{sign[r]};
        for (int64_t j = 0; j < dim; j++) {
          const float w = o.W(W0[r * dim + j]);
          WD[r * dim + j] = w * Oriented::D(w, T[r * dim + j]);
        }
      }
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
      std::vector<int32_t> indp(dim), idx2(dim);
      for (int64_t r = begin; r < end; r++) {
        const float* tr = T + r * dim;
        const Oriented o{sign[r]};
        for (int64_t j = 0; j < dim; j++) {
          w[j] = o.W(W0[r * dim + j]);
          const float a = Oriented::A(w[j]);
          d[j] = Oriented::D(w[j], tr[j]);
          p[j] = a - tr[j] * (a * 2.f - 1.f);
        }
        StableArgsort(p.data(), dim, keys, keys2, indp, idx2);
        const float b = B0in[r] * o.sign - o.sign * S1[r];
        const float b0 = B0[r];
        // descending p: ws = w[indp2], s = cumsum |ws|, sb = cumsum(-ws * d[indp2]) + b0
        double cs = 0, csb = 0;
        for (int64_t k = 0; k < dim; k++) {
          const int32_t j = indp[dim - 1 - k];
          const float ws = w[j];
          cs += static_cast<double>(std::fabs(ws));
          csb += static_cast<double>(-ws * d[j]);
          s[k] = static_cast<float>(cs);
          sb[k] = static_cast<float>(csb) + b0;
        }
        const float sLast = s[dim - 1], sbLast = sb[dim - 1];
        const float b2 = sbLast - sLast * p[indp[0]];
        const bool cL = b - b2 > 0.f;
        const bool c2 = b - b0 > 0.f && !cL;
        int64_t lb = 0, ub = dim - 1;
        for (int64_t i = 0; i < steps; i++) {
          const int64_t mid = (lb + ub) / 2;
          const float bk = sb[mid] - s[mid] * p[indp[dim - 1 - mid]];
          if (b - bk > 0.f)
            lb = mid;
          else
            ub = mid;
        }
        float* dr = OUT + r * dim;
        if (cL) {
          // the hyperplane lies beyond every breakpoint: every coordinate moves by the same lambda
          const float lambdaL = ClampMin0((b - sbLast) / -sLast);
          for (int64_t j = 0; j < dim; j++) dr[j] = (Oriented::A(w[j]) * 2.f - 1.f) * lambdaL * Oriented::Moving(w[j]);
        } else if (c2) {
          const float lambda2 = ClampMin0((b - sb[lb]) / -s[lb]);
          for (int64_t j = 0; j < dim; j++) {
            const float a = Oriented::A(w[j]);
            const float inner = Minimum(lambda2, d[j]) * a + Maximum(-lambda2, d[j]) * (-a + 1.f);
            dr[j] = inner * Oriented::Moving(w[j]);
          }
        } else {
          for (int64_t j = 0; j < dim; j++) dr[j] = d[j] * Oriented::Moving(w[j]);
        }
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
