// The arithmetic of tiled max pooling (pool.cc), apart from libtorch's headers so that it alone
// is compiled for vector units: a window's maximum is a chain of compare-and-select that the
// compiler vectorises only at -O3 with SSE4.1 blends or wider. At -O2 on baseline x86-64 it
// stays a branch per element, mispredicted on ReLU outputs: 8.2 ms against 1.9 ms (AVX2) for
// 4,096 28x28 planes, one thread. The CPU picks its clone when the addon loads.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SAURON_VECTOR_CLONES __attribute__((target_clones("avx2", "sse4.2", "default")))
#else
#define SAURON_VECTOR_CLONES
#endif

namespace sauron {

// ATen's relu (clamp_min(x, 0)): negatives become +0; -0 and NaN stay as they are.
static inline float Relu(float v) { return v < 0.f ? 0.f : v; }

// Rows [begin, end) of (plane, output row) pairs: libtorch's first maximum in window order,
// NaN taking the place as in libtorch's `val > max || isnan(val)`, and the index of the kept
// element within its plane; with RELU, of the window's relu'd values, as relu then pooling.
template <int KH, int KW, bool RELU>
static inline void Rows(const float* in, float* out, int64_t* idx, int64_t begin, int64_t end, int64_t oh, int64_t ow,
                        int64_t h, int64_t w, int64_t kh, int64_t kw) {
  const int64_t kH = KH > 0 ? KH : kh;
  const int64_t kW = KW > 0 ? KW : kw;
  for (int64_t r = begin; r < end; r++) {
    const int64_t plane = r / oh;
    const int64_t y = r % oh;
    const float* p = in + plane * h * w;
    float* o = out + r * ow;
    int64_t* ix = idx + r * ow;
    for (int64_t x = 0; x < ow; x++) {
      const int64_t ih0 = y * kH;
      const int64_t iw0 = x * kW;
      int64_t best = ih0 * w + iw0;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < kH; i++) {
        for (int64_t j = 0; j < kW; j++) {
          const int64_t at = (ih0 + i) * w + iw0 + j;
          const float v = RELU ? Relu(p[at]) : p[at];
          const bool take = v > m || std::isnan(v);
          m = take ? v : m;
          best = take ? at : best;
        }
      }
      o[x] = m;
      ix[x] = best;
    }
  }
}

SAURON_VECTOR_CLONES
void MaxPoolTiledRows(const float* in, float* out, int64_t* idx, int64_t begin, int64_t end, int64_t oh, int64_t ow,
                      int64_t h, int64_t w, int64_t kh, int64_t kw, bool relu) {
  if (kh == 2 && kw == 2)
    relu ? Rows<2, 2, true>(in, out, idx, begin, end, oh, ow, h, w, kh, kw) : Rows<2, 2, false>(in, out, idx, begin, end, oh, ow, h, w, kh, kw);
  else
    relu ? Rows<0, 0, true>(in, out, idx, begin, end, oh, ow, h, w, kh, kw) : Rows<0, 0, false>(in, out, idx, begin, end, oh, ow, h, w, kh, kw);
}

// The gradient of relu then pooling, for planes [begin, end) of a zeroed input gradient: each
// window's kept element gets its output's gradient where relu passed it (libtorch's
// threshold_backward: not where the output is <= 0), as pooling's backward adds it to zero.
void ReluMaxPoolTiledBackward(const float* gout, const float* out, const int64_t* idx, float* gin, int64_t begin,
                              int64_t end, int64_t outPlane, int64_t inPlane) {
  for (int64_t p = begin; p < end; p++) {
    const float* g = gout + p * outPlane;
    const float* o = out + p * outPlane;
    const int64_t* ix = idx + p * outPlane;
    float* gi = gin + p * inPlane;
    for (int64_t j = 0; j < outPlane; j++) {
      if (!(o[j] <= 0.f)) gi[ix[j]] = 0.f + g[j];
    }
  }
}

}  // namespace sauron
