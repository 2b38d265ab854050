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

#include "vectorClones.h"

namespace sauron {

// Rows [begin, end) of (plane, output row) pairs: libtorch's first maximum in window order,
// NaN taking the place as in libtorch's `val > max || isnan(val)`, and (kIdx) the index of the
// kept element within its plane.
template <int KH, int KW, bool kIdx>
static inline void Rows(const float* in, float* out, int64_t* idx, int64_t begin, int64_t end, int64_t oh, int64_t ow,
                        int64_t h, int64_t w, int64_t kh, int64_t kw) {
  const int64_t kH = KH > 0 ? KH : kh;
  const int64_t kW = KW > 0 ? KW : kw;
  for (int64_t r = begin; r < end; r++) {
    const int64_t plane = r / oh;
    const int64_t y = r % oh;
    const float* p = in + plane * h * w;
    float* o = out + r * ow;
    int64_t* ix = kIdx ? idx + r * ow : nullptr;
    for (int64_t x = 0; x < ow; x++) {
      const int64_t ih0 = y * kH;
      const int64_t iw0 = x * kW;
      int64_t best = ih0 * w + iw0;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < kH; i++) {
        for (int64_t j = 0; j < kW; j++) {
          const int64_t at = (ih0 + i) * w + iw0 + j;
          const float v = p[at];
          const bool take = v > m || std::isnan(v);
          m = take ? v : m;
          best = take ? at : best;
        }
      }
      o[x] = m;
      if (kIdx) ix[x] = best;
    }
  }
}

SAURON_VECTOR_CLONES
void MaxPoolTiledRows(const float* in, float* out, int64_t* idx, int64_t begin, int64_t end, int64_t oh, int64_t ow,
                      int64_t h, int64_t w, int64_t kh, int64_t kw) {
  if (kh == 2 && kw == 2 && idx)
    Rows<2, 2, true>(in, out, idx, begin, end, oh, ow, h, w, kh, kw);
  else if (kh == 2 && kw == 2)
    Rows<2, 2, false>(in, out, idx, begin, end, oh, ow, h, w, kh, kw);
  else if (idx)
    Rows<0, 0, true>(in, out, idx, begin, end, oh, ow, h, w, kh, kw);
  else
    Rows<0, 0, false>(in, out, idx, begin, end, oh, ow, h, w, kh, kw);
}

}  // namespace sauron
