// Windows of one size cut out of (and written back into) a batch of images, each row's window
// at its own corner: what Square's local forward (src/attacks/localForward.ts) moves between
// its cached activations every query. Written with libtorch's gather / scatter_ over an index
// tensor, building that index and copying element by element took most of the query; here it
// is one contiguous copy per window row. CPU float32 contiguous NCHW runs this copy; anything
// else goes through libtorch's gather / scatter_ on the same index, with the same result.
// Channel-blocked batches [n, c, h, w, b] (oneDNN's aBcd{b}b layout, the local forward's caches
// where the native stack runs its stages) take the copy only: a window row is then one run of
// ww * b floats instead of b runs of ww.
#include "common.h"

#include <ATen/Parallel.h>

#include <cstring>
#include <string>
#include <vector>

namespace sauron {
namespace {

struct Windows {
  std::vector<int32_t> ys, xs;
  int64_t hh, ww;
};

Windows ReadWindows(Napi::Env env, const at::Tensor& x, const Napi::Value& ys, const Napi::Value& xs, int64_t hh, int64_t ww) {
  if (x.dim() != 4 && x.dim() != 5) throw Napi::TypeError::New(env, "windows: expected a [n, c, h, w] or [n, c, h, w, b] tensor");
  if (!ys.IsTypedArray() || ys.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !xs.IsTypedArray() ||
      xs.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(env, "windows: corners must be Int32Arrays");
  auto ty = ys.As<Napi::Int32Array>();
  auto tx = xs.As<Napi::Int32Array>();
  Windows w{std::vector<int32_t>(ty.Data(), ty.Data() + ty.ElementLength()), std::vector<int32_t>(tx.Data(), tx.Data() + tx.ElementLength()),
            hh, ww};
  const int64_t n = x.size(0), h = x.size(2), width = x.size(3);
  if (static_cast<int64_t>(w.ys.size()) != n || static_cast<int64_t>(w.xs.size()) != n)
    throw Napi::RangeError::New(env, "windows: one corner per row expected (" + std::to_string(n) + " rows)");
  if (w.hh < 1 || w.ww < 1 || w.hh > h || w.ww > width)
    throw Napi::RangeError::New(env, "windows: a " + std::to_string(w.hh) + "x" + std::to_string(w.ww) + " window does not fit " +
                                         std::to_string(h) + "x" + std::to_string(width) + " images");
  for (int64_t r = 0; r < n; r++) {
    if (w.ys[r] < 0 || w.xs[r] < 0 || w.ys[r] + w.hh > h || w.xs[r] + w.ww > width)
      throw Napi::RangeError::New(env, "windows: row " + std::to_string(r) + "'s window at (" + std::to_string(w.ys[r]) + ", " +
                                           std::to_string(w.xs[r]) + ") leaves the image");
  }
  return w;
}

bool Direct(const at::Tensor& x) { return x.device().is_cpu() && x.scalar_type() == at::kFloat && x.is_contiguous(); }

// The flat index of every window element within its image plane, [n, c, hh * ww], for the
// gather / scatter_ path.
at::Tensor FlatIndex(const at::Tensor& x, const Windows& w) {
  const int64_t n = x.size(0), width = x.size(3);
  std::vector<int64_t> idx(n * w.hh * w.ww);
  for (int64_t r = 0; r < n; r++)
    for (int64_t i = 0; i < w.hh; i++)
      for (int64_t j = 0; j < w.ww; j++) idx[(r * w.hh + i) * w.ww + j] = (w.ys[r] + i) * width + w.xs[r] + j;
  auto t = at::tensor(idx, at::TensorOptions().dtype(at::kLong)).view({n, 1, w.hh * w.ww}).to(x.device());
  return t.expand({n, x.size(1), w.hh * w.ww});
}

// Copies window rows between an image batch and a window batch, plane by plane; `rows` (or
// null: all) says which batch rows take part. Each position holds `inner` floats (channel-blocked
// [n, c, h, w, b] batches: b; NCHW: 1). kLen > 0: window rows of that many floats, copied inline
// (a memcpy call per short row costs more than the copy).
template <bool kPut, int kLen>
void CopyRows(float* image, float* window, int64_t n, int64_t c, int64_t h, int64_t width, int64_t inner, const Windows& w,
              const bool* rows) {
  const int64_t len = kLen > 0 ? kLen : w.ww * inner;
  const int64_t stride = width * inner;
  at::parallel_for(0, n * c, std::max<int64_t>(1, 4096 / (w.hh * len)), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; p++) {
      const int64_t r = p / c;
      if (rows && !rows[r]) continue;
      float* img = image + p * h * stride + static_cast<int64_t>(w.ys[r]) * stride + w.xs[r] * inner;
      float* win = window + p * w.hh * len;
      for (int64_t i = 0; i < w.hh; i++) {
        if (kPut)
          std::memcpy(img + i * stride, win + i * len, len * sizeof(float));
        else
          std::memcpy(win + i * len, img + i * stride, len * sizeof(float));
      }
    }
  });
}

template <bool kPut>
void Copy(float* image, float* window, int64_t n, int64_t c, int64_t h, int64_t width, int64_t inner, const Windows& w, const bool* rows) {
  switch (inner == 1 ? w.ww : 0) {
#define SAURON_ROWS(W) \
  case W:              \
    return CopyRows<kPut, W>(image, window, n, c, h, width, inner, w, rows);
    SAURON_ROWS(1) SAURON_ROWS(2) SAURON_ROWS(3) SAURON_ROWS(4) SAURON_ROWS(5) SAURON_ROWS(6) SAURON_ROWS(7) SAURON_ROWS(8)
    SAURON_ROWS(9) SAURON_ROWS(10) SAURON_ROWS(11) SAURON_ROWS(12) SAURON_ROWS(13) SAURON_ROWS(14) SAURON_ROWS(15) SAURON_ROWS(16)
#undef SAURON_ROWS
    default:
      return CopyRows<kPut, 0>(image, window, n, c, h, width, inner, w, rows);
  }
}

// windows(x, ys, xs, hh, ww): [n, c, hh, ww], row r's window of x with its corner at (ys[r], xs[r]).
Napi::Value Cut(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor x = TensorWrap::From(env, info[0]);
  SAURON_GUARD(env, {
    const Windows w =
        ReadWindows(env, x, info[1], info[2], info[3].As<Napi::Number>().Int64Value(), info[4].As<Napi::Number>().Int64Value());
    const int64_t n = x.size(0), c = x.size(1);
    if (x.dim() == 5) {
      if (!Direct(x)) throw Napi::TypeError::New(env, "windows: a channel-blocked batch must be CPU float32 and contiguous");
      auto out = at::empty({n, c, w.hh, w.ww, x.size(4)}, x.options());
      Copy<false>(x.data_ptr<float>(), out.data_ptr<float>(), n, c, x.size(2), x.size(3), x.size(4), w, nullptr);
      return TensorWrap::Wrap(env, out);
    }
    if (!Direct(x)) {
      auto flat = x.reshape({n, c, x.size(2) * x.size(3)});
      return TensorWrap::Wrap(env, flat.gather(2, FlatIndex(x, w)).view({n, c, w.hh, w.ww}));
    }
    auto out = at::empty({n, c, w.hh, w.ww}, x.options());
    Copy<false>(x.data_ptr<float>(), out.data_ptr<float>(), n, c, x.size(2), x.size(3), 1, w, nullptr);
    return TensorWrap::Wrap(env, out);
  })
}

// putWindows_(x, ys, xs, v, rows): in place, x's windows (as `windows` cuts them) set to v
// [n, c, hh, ww]; only the rows where the bool tensor `rows` [n] is true, or all when null.
Napi::Value Put(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor x = TensorWrap::From(env, info[0]);
  at::Tensor v = TensorWrap::From(env, info[3]);
  SAURON_GUARD(env, {
    if ((x.dim() != 4 && x.dim() != 5) || v.dim() != x.dim() || v.size(0) != x.size(0) || v.size(1) != x.size(1) ||
        (x.dim() == 5 && v.size(4) != x.size(4)) || v.scalar_type() != x.scalar_type() || v.device() != x.device())
      throw Napi::TypeError::New(env,
                                 "putWindows_: the windows must be [n, c, hh, ww] of the image batch's n, c, dtype and device (of a blocked batch [n, c, h, w, b]: [n, c, hh, ww, b])");
    if (!x.is_contiguous()) throw Napi::TypeError::New(env, "putWindows_: the image batch must be contiguous");
    const int64_t n = x.size(0), c = x.size(1);
    const Windows w = ReadWindows(env, x, info[1], info[2], v.size(2), v.size(3));
    at::Tensor rows;
    if (!info[4].IsNull() && !info[4].IsUndefined()) {
      rows = TensorWrap::From(env, info[4]);
      if (rows.scalar_type() != at::kBool || rows.dim() != 1 || rows.size(0) != n)
        throw Napi::TypeError::New(env, "putWindows_: rows must be a bool tensor [n]");
    }
    if (Direct(x) && v.is_contiguous()) {
      auto mask = rows.defined() ? rows.cpu().contiguous() : rows;
      Copy<true>(x.data_ptr<float>(), v.data_ptr<float>(), n, c, x.size(2), x.size(3), x.dim() == 5 ? x.size(4) : 1, w,
                 mask.defined() ? mask.data_ptr<bool>() : nullptr);
      return info[0];
    }
    if (x.dim() == 5) throw Napi::TypeError::New(env, "putWindows_: a channel-blocked batch and its windows must be CPU float32 and contiguous");
    auto flat = x.view({n, c, x.size(2) * x.size(3)});
    auto index = FlatIndex(x, w);
    auto values = v.reshape({n, c, w.hh * w.ww});
    if (rows.defined()) values = at::where(rows.view({n, 1, 1}), values, flat.gather(2, index));
    flat.scatter_(2, index, values);
    return info[0];
  })
}

}  // namespace

void InitWindow(Napi::Env env, Napi::Object exports) {
  exports.Set("windows", Napi::Function::New(env, Cut));
  exports.Set("putWindows_", Napi::Function::New(env, Put));
}

}  // namespace sauron
