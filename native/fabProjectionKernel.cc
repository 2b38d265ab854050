// The per-row arithmetic of FAB's Linf projection (fabProjection.cc), apart from libtorch's
// headers so that it alone is compiled for vector units, as poolKernel.cc: the loops over a
// row's coordinates are selects and integer key flips that the compiler vectorises only at -O3,
// and the radix sort reads its keys once for all four byte histograms. The float arithmetic is
// the op-by-op version's, in the same order (no contraction into fused multiply-adds), so the
// answer stays bit for bit that of src/attacks/fabProjections.ts (test/unit/fabProjection.test.ts).
// Without trapping math the compiler may turn the per-coordinate branches into selects (which
// compute both sides); nothing here reads the floating-point exception flags, so no value changes.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "fp-contract=off", "no-trapping-math")
#endif

#include "fabProjectionKernel.h"
#include "vectorClones.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

namespace sauron {
namespace {

// The row's sign flip and its start: w = w0 * sign, a = (w < 0), d = (a - t) * (w != 0).
inline float A(float w) { return w < 0.f ? 1.f : 0.f; }
inline float Moving(float w) { return w != 0.f ? 1.f : 0.f; }
inline float D(float w, float t) { return (A(w) - t) * Moving(w); }

// Order-preserving unsigned key of a float: -0 as +0, every NaN last (libtorch's sort order).
inline uint32_t Key(float v) {
  uint32_t u = __builtin_bit_cast(uint32_t, v);
  const uint32_t mag = u & 0x7FFFFFFFu;
  u = mag == 0 ? 0u : u;
  const uint32_t key = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return mag > 0x7F800000u ? 0xFFFFFFFFu : key;
}

// libtorch's minimum / maximum / clamp_min(0): NaN propagates.
inline float Minimum(float a, float b) { return std::isnan(a) || std::isnan(b) ? std::numeric_limits<float>::quiet_NaN() : (a < b ? a : b); }
inline float Maximum(float a, float b) { return std::isnan(a) || std::isnan(b) ? std::numeric_limits<float>::quiet_NaN() : (a > b ? a : b); }
inline float ClampMin0(float x) { return x < 0.f ? 0.f : x; }

// The oriented row: w, d, p and the keys of p.
void Orient(const float* __restrict w0, const float* __restrict t, float sign, int64_t n, float* __restrict w, float* __restrict d,
            float* __restrict p, uint32_t* __restrict keys) {
  for (int64_t j = 0; j < n; j++) {
    const float wj = w0[j] * sign;
    const float a = A(wj);
    w[j] = wj;
    d[j] = D(wj, t[j]);
    p[j] = a - t[j] * (a * 2.f - 1.f);
    keys[j] = Key(p[j]);
  }
}

// Stable LSD radix sort of 0..n-1 by key; returns the array holding the order (idx or idx2).
// One read of the keys counts all four bytes; a byte where every key agrees is skipped.
int32_t* StableArgsort(uint32_t* keys, uint32_t* keys2, int32_t* idx, int32_t* idx2, int64_t n) {
  uint32_t count[4][257];
  std::memset(count, 0, sizeof count);
  for (int64_t j = 0; j < n; j++) {
    idx[j] = static_cast<int32_t>(j);
    const uint32_t k = keys[j];
    count[0][(k & 0xFF) + 1]++;
    count[1][((k >> 8) & 0xFF) + 1]++;
    count[2][((k >> 16) & 0xFF) + 1]++;
    count[3][(k >> 24) + 1]++;
  }
  for (int pass = 0; pass < 4; pass++) {
    uint32_t* c = count[pass];
    bool one = false;
    for (int k = 1; k <= 256; k++) one |= c[k] == static_cast<uint32_t>(n);
    if (one) continue;
    for (int k = 0; k < 256; k++) c[k + 1] += c[k];
    const int shift = pass * 8;
    for (int64_t j = 0; j < n; j++) {
      const uint32_t at = c[(keys[j] >> shift) & 0xFF]++;
      keys2[at] = keys[j];
      idx2[at] = idx[j];
    }
    std::swap(keys, keys2);
    std::swap(idx, idx2);
  }
  return idx;
}

}  // namespace

SAURON_VECTOR_CLONES
void FabOrientedProducts(const float* w0, const float* t, float sign, int64_t n, float* wd) {
  for (int64_t j = 0; j < n; j++) {
    const float w = w0[j] * sign;
    wd[j] = w * D(w, t[j]);
  }
}

SAURON_VECTOR_CLONES
void FabProjectRow(const FabRow& row, FabScratch& s, float* out) {
  const int64_t dim = row.dim;
  float* w = s.w;
  float* d = s.d;
  float* p = s.p;
  Orient(row.w0, row.t, row.sign, dim, w, d, p, s.keys);
  const int32_t* indp = StableArgsort(s.keys, s.keys2, s.idx, s.idx2, dim);
  const float b = row.b0in * row.sign - row.sign * row.s1;
  const float b0 = row.b0;
  // descending p: ws = w[indp2], s = cumsum |ws|, sb = cumsum(-ws * d[indp2]) + b0, the
  // cumulative sums in double rounded to float, as libtorch's CPU cumsum
  float* cs = s.s;
  float* sb = s.sb;
  double acc = 0, accb = 0;
  for (int64_t k = 0; k < dim; k++) {
    const int32_t j = indp[dim - 1 - k];
    const float ws = w[j];
    acc += static_cast<double>(std::fabs(ws));
    accb += static_cast<double>(-ws * d[j]);
    cs[k] = static_cast<float>(acc);
    sb[k] = static_cast<float>(accb) + b0;
  }
  const float sLast = cs[dim - 1], sbLast = sb[dim - 1];
  const float b2 = sbLast - sLast * p[indp[0]];
  const bool cL = b - b2 > 0.f;
  const bool c2 = b - b0 > 0.f && !cL;
  int64_t lb = 0, ub = dim - 1;
  for (int64_t i = 0; i < row.steps; i++) {
    const int64_t mid = (lb + ub) / 2;
    const float bk = sb[mid] - cs[mid] * p[indp[dim - 1 - mid]];
    if (b - bk > 0.f)
      lb = mid;
    else
      ub = mid;
  }
  if (cL) {
    // the hyperplane lies beyond every breakpoint: every coordinate moves by the same lambda
    const float lambdaL = ClampMin0((b - sbLast) / -sLast);
    for (int64_t j = 0; j < dim; j++) out[j] = (A(w[j]) * 2.f - 1.f) * lambdaL * Moving(w[j]);
  } else if (c2) {
    const float lambda2 = ClampMin0((b - sb[lb]) / -cs[lb]);
    for (int64_t j = 0; j < dim; j++) {
      const float a = A(w[j]);
      const float inner = Minimum(lambda2, d[j]) * a + Maximum(-lambda2, d[j]) * (-a + 1.f);
      out[j] = inner * Moving(w[j]);
    }
  } else {
    for (int64_t j = 0; j < dim; j++) out[j] = d[j] * Moving(w[j]);
  }
}

}  // namespace sauron
