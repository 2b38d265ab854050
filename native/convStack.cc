// A stack of convolutions (each with its ReLU, if any) and max poolings, run on oneDNN's blocked
// layouts from the first layer to the last. libtorch's conv2d takes and returns NCHW tensors, so
// each of its calls reorders its input into oneDNN's channel-blocked layout and its output back.
// Here the activations stay blocked between layers and ReLU runs as the convolution's post-op
// (what it saves: BENCHMARKS.md, "Attack step: a convolution stack in oneDNN's layout").
//
// The sums are libtorch's: the convolutions are the same oneDNN kernels libtorch's conv2d calls
// (forward and input gradient), ReLU and max pooling are exact, and the first convolution's input
// gradient for one to three channels comes from libtorch's im2col kernel as in conv.cc. So the
// output and the input gradient equal the layer-by-layer path's bit for bit
// (test/unit/convStack.test.ts). Only the input's gradient is computed: the weights must not
// want one. Rows whose output gradient is all zero are left out of the backward (their input
// gradient is +0; the others run as a batch of their own, with the whole batch's values). Under
// create_graph the backward recomputes the stack with libtorch's ops and differentiates them, so
// a gradient of a gradient still works. convStackBlocked runs a stack without a gradient from and
// to oneDNN's blocked layout itself, held as [N, C / B, H, W, B] tensors, for Square's local
// forward, which keeps its activations so between queries.
#include "common.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#ifdef SAURON_DNNL
#include <dnnl.hpp>
#endif

namespace sauron {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One layer: a convolution (square kernel k, padding pad, stride 1, ReLU after it or not) or a
// max pooling of side and stride k.
struct Layer {
  bool pool = false;
  int64_t k = 0;
  int64_t pad = 0;
  bool relu = false;
  at::Tensor weight;
  at::Tensor bias;
};

// libtorch's ops on NCHW tensors: the reference, and the backward's path under create_graph.
at::Tensor ByOps(at::Tensor h, const std::vector<Layer>& layers) {
  for (const Layer& l : layers) {
    if (l.pool) {
      h = at::max_pool2d(h, {l.k, l.k}, {l.k, l.k});
    } else {
      h = at::conv2d(h, l.weight, l.bias, {1, 1}, {l.pad, l.pad});
      if (l.relu) h = at::relu(h);
    }
  }
  return h;
}

#ifdef SAURON_DNNL

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

dnnl::engine& Engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// A oneDNN buffer whose bytes an at::Tensor owns, so that the autograd graph frees it.
struct Buffer {
  at::Tensor bytes;
  memory mem;
};

Buffer Allocate(const memory::desc& d) {
  Buffer b;
  b.bytes = at::empty({static_cast<int64_t>(d.get_size())}, at::kByte);
  b.mem = memory(d, Engine(), b.bytes.data_ptr());
  return b;
}

memory::desc Plain(const std::vector<int64_t>& dims) { return memory::desc(memory::dims(dims.begin(), dims.end()), Dt::f32, Tag::nchw); }

// The same values in layout d (the buffer itself when it already has it).
Buffer Relayout(dnnl::stream& s, const Buffer& from, const memory::desc& d) {
  if (from.mem.get_desc() == d) return from;
  Buffer to = Allocate(d);
  dnnl::reorder(from.mem, to.mem).execute(s, const_cast<memory&>(from.mem), to.mem);
  return to;
}

// The primitive descriptors of one layer's forward, and its output's dims.
struct Stage {
  std::vector<int64_t> inDims, outDims;
  memory::desc src, dst;
  std::optional<dnnl::convolution_forward::primitive_desc> conv;
  std::optional<dnnl::pooling_forward::primitive_desc> pool;
};

const memory::dims kOne{1, 1};

// The source layout is oneDNN's choice, as libtorch's (ideep's) calls leave it.
dnnl::convolution_forward::primitive_desc ConvForward(const std::vector<int64_t>& in, const Layer& l, const std::vector<int64_t>& out) {
  const int64_t oc = l.weight.size(0), ic = l.weight.size(1);
  const memory::desc src(memory::dims(in.begin(), in.end()), Dt::f32, Tag::any);
  const memory::desc w({oc, ic, l.k, l.k}, Dt::f32, Tag::any);
  const memory::desc dst(memory::dims(out.begin(), out.end()), Dt::f32, Tag::any);
  const memory::desc b = l.bias.defined() ? memory::desc({oc}, Dt::f32, Tag::x) : memory::desc();
  const memory::dims pad{l.pad, l.pad};
  dnnl::post_ops ops;
  dnnl::primitive_attr attr;
#if DNNL_VERSION_MAJOR >= 3
  if (l.relu) ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  attr.set_post_ops(ops);
  return dnnl::convolution_forward::primitive_desc(Engine(), dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, w,
                                                   b, dst, kOne, pad, pad, attr);
#else
  if (l.relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  attr.set_post_ops(ops);
  auto d = l.bias.defined() ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, w,
                                                               b, dst, kOne, pad, pad)
                            : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, w,
                                                               dst, kOne, pad, pad);
  return dnnl::convolution_forward::primitive_desc(d, attr, Engine());
#endif
}

dnnl::pooling_forward::primitive_desc PoolForward(const memory::desc& src, const Layer& l, const std::vector<int64_t>& out) {
  const memory::desc dst(memory::dims(out.begin(), out.end()), Dt::f32, Tag::any);
  const memory::dims k{l.k, l.k}, zero{0, 0};
#if DNNL_VERSION_MAJOR >= 3
  return dnnl::pooling_forward::primitive_desc(Engine(), dnnl::prop_kind::forward_training, dnnl::algorithm::pooling_max, src, dst, k, k,
                                               zero, zero, zero);
#else
  return dnnl::pooling_forward::primitive_desc(
      dnnl::pooling_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::pooling_max, src, dst, k, k, zero, zero), Engine());
#endif
}

// Every layer's forward descriptors for an input of `dims` in layout `src`, in order.
std::vector<Stage> Plan(const std::vector<int64_t>& dims, memory::desc src, const std::vector<Layer>& layers) {
  std::vector<Stage> stages;
  std::vector<int64_t> in = dims;
  for (const Layer& l : layers) {
    Stage st;
    st.inDims = in;
    std::vector<int64_t> out = in;
    if (l.pool) {
      out[2] = in[2] / l.k;
      out[3] = in[3] / l.k;
      st.pool = PoolForward(src, l, out);
      st.src = st.pool->src_desc();
      st.dst = st.pool->dst_desc();
    } else {
      out[1] = l.weight.size(0);
      out[2] = in[2] + 2 * l.pad - l.k + 1;
      out[3] = in[3] + 2 * l.pad - l.k + 1;
      st.conv = ConvForward(in, l, out);
      st.src = st.conv->src_desc();
      st.dst = st.conv->dst_desc();
    }
    st.outDims = out;
    src = st.dst;
    in = out;
    stages.push_back(std::move(st));
  }
  return stages;
}

Buffer Wrap(const at::Tensor& t, const memory::desc& d) { return Buffer{t, memory(d, Engine(), t.data_ptr())}; }

// What the backward needs: the layers, the forward's descriptors (the backward's hints), and per
// layer the ReLU output (convolutions with ReLU) or the argmax workspace (poolings).
struct Saved : torch::CustomClassHolder {
  std::vector<Layer> layers;
  std::vector<Stage> stages;
  std::vector<Buffer> kept;
  // The stages and kept buffers of the rows the last backward ran, when not all (RowsOf): an
  // untargeted FAB step runs one backward per class through the same rows.
  std::vector<int64_t> lastRows;
  std::vector<Stage> rowStages;
  std::vector<Buffer> rowKept;
};

// The few-channel first convolution's input gradient, as conv.cc takes it.
bool SlowFirst(const Layer& l) { return !l.pool && l.weight.size(1) <= 3; }

// The stack's output from x (its values in x's memory, in the layout `stages` were planned from),
// written into y in y's layout; a last output already in y's layout is computed in place.
void Run(const at::Tensor& x, const memory::desc& src, std::vector<Stage> stages, const std::vector<Layer>& layers, Saved* saved,
         const Buffer& y) {
  dnnl::stream s(Engine());
  Buffer cur = Wrap(x, src);
  for (size_t i = 0; i < layers.size(); i++) {
    const Layer& l = layers[i];
    Stage& st = stages[i];
    cur = Relayout(s, cur, st.src);
    // (not when the backward keeps it: the caller owns y)
    Buffer out = !saved && i + 1 == layers.size() && st.dst == y.mem.get_desc() ? y : Allocate(st.dst);
    if (l.pool) {
      Buffer ws = Allocate(st.pool->workspace_desc());
      dnnl::pooling_forward(*st.pool).execute(s, {{DNNL_ARG_SRC, cur.mem}, {DNNL_ARG_DST, out.mem}, {DNNL_ARG_WORKSPACE, ws.mem}});
      if (saved) saved->kept.push_back(ws);
    } else {
      const at::Tensor wt = l.weight.contiguous();
      Buffer w = Relayout(s, Wrap(wt, memory::desc({wt.size(0), wt.size(1), l.k, l.k}, Dt::f32, Tag::oihw)), st.conv->weights_desc());
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, cur.mem}, {DNNL_ARG_WEIGHTS, w.mem}, {DNNL_ARG_DST, out.mem}};
      at::Tensor bt;
      if (l.bias.defined()) {
        bt = l.bias.contiguous();
        args.emplace(DNNL_ARG_BIAS, memory(st.conv->bias_desc(), Engine(), bt.data_ptr()));
      }
      dnnl::convolution_forward(*st.conv).execute(s, args);
      if (saved) saved->kept.push_back(l.relu ? out : Buffer{});
    }
    s.wait();
    cur = out;
  }
  if (cur.bytes.data_ptr() != y.bytes.data_ptr()) {
    dnnl::reorder(cur.mem, y.mem).execute(s, const_cast<memory&>(cur.mem), const_cast<memory&>(y.mem));
    s.wait();
  }
  if (saved) saved->stages = std::move(stages);
}

at::Tensor Forward(const at::Tensor& x, const std::vector<Layer>& layers, Saved* saved) {
  const auto dims = x.sizes().vec();
  auto stages = Plan(dims, Plain(dims), layers);
  const auto outDims = stages.back().outDims;
  at::Tensor y = at::empty(outDims, x.options());
  Run(x, Plain(dims), std::move(stages), layers, saved, Wrap(y, Plain(outDims)));
  return y;
}

// Channel-blocked tensors: [N, C / B, H, W, B] holds [N, C, H, W] in oneDNN's aBcd{B}b layout.
std::optional<Tag> BlockedTag(int64_t b) {
  if (b == 8) return Tag::aBcd8b;
  if (b == 16) return Tag::aBcd16b;
  return std::nullopt;
}

// The block of the layout oneDNN picks for the planned stack's output, when it is one of
// BlockedTag's and divides the channels; otherwise 0 (plain NCHW).
int64_t ChosenBlock(const std::vector<Stage>& stages) {
  const auto& out = stages.back().outDims;
  for (int64_t b : {16, 8}) {
    if (out[1] % b == 0 && stages.back().dst == memory::desc(memory::dims(out.begin(), out.end()), Dt::f32, *BlockedTag(b))) return b;
  }
  return 0;
}

// The ReLU's backward in place: the gradient where the output is > 0 (libtorch's
// threshold_backward: zero where output <= 0, so a NaN output passes the gradient).
void ReluBackward(Buffer& g, const Buffer& out) {
  float* gp = static_cast<float*>(g.mem.get_data_handle());
  const float* op = static_cast<const float*>(out.mem.get_data_handle());
  const int64_t n = static_cast<int64_t>(g.mem.get_desc().get_size() / sizeof(float));
  at::parallel_for(0, n, 16384, [&](int64_t b, int64_t e) {
    // a select per element: simd so that -O2 vectorises it
#pragma omp simd
    for (int64_t i = b; i < e; i++) gp[i] = op[i] <= 0.f ? 0.f : gp[i];
  });
}

// The input gradient from the output gradient go (contiguous), given the forward's stages and
// kept buffers for the same rows.
at::Tensor BackwardOn(const at::Tensor& x, const at::Tensor& go, const std::vector<Layer>& layers, std::vector<Stage>& stages,
                      const std::vector<Buffer>& kept) {
  const auto dims = x.sizes().vec();
  dnnl::stream s(Engine());
  Buffer g = Relayout(s, Wrap(go, Plain(stages.back().outDims)), stages.back().dst);
  for (size_t j = layers.size(); j-- > 0;) {
    const Layer& l = layers[j];
    Stage& st = stages[j];
    const memory::desc inDesc = j == 0 ? Plain(dims) : stages[j - 1].dst;
    if (l.pool) {
#if DNNL_VERSION_MAJOR >= 3
      const memory::dims k{l.k, l.k}, zero{0, 0};
      dnnl::pooling_backward::primitive_desc pd(Engine(), dnnl::algorithm::pooling_max, st.src, g.mem.get_desc(), k, k, zero, zero, zero,
                                                *st.pool);
#else
      const memory::dims k{l.k, l.k}, zero{0, 0};
      dnnl::pooling_backward::primitive_desc pd(
          dnnl::pooling_backward::desc(dnnl::algorithm::pooling_max, st.src, g.mem.get_desc(), k, k, zero, zero), Engine(), *st.pool);
#endif
      g = Relayout(s, g, pd.diff_dst_desc());
      Buffer gi = Allocate(pd.diff_src_desc());
      dnnl::pooling_backward(pd).execute(s, {{DNNL_ARG_DIFF_DST, g.mem}, {DNNL_ARG_DIFF_SRC, gi.mem}, {DNNL_ARG_WORKSPACE, kept[j].mem}});
      s.wait();
      g = Relayout(s, gi, inDesc);
      continue;
    }
    if (l.relu) {
      g = Relayout(s, g, st.dst);
      s.wait();
      ReluBackward(g, kept[j]);
    }
    if (j == 0 && SlowFirst(l)) {
      at::Tensor gp = at::empty(st.outDims, x.options());
      Buffer plain = Wrap(gp, Plain(st.outDims));
      dnnl::reorder(g.mem, plain.mem).execute(s, g.mem, plain.mem);
      s.wait();
      return std::get<0>(at::_slow_conv2d_backward(gp, x, l.weight, {l.k, l.k}, {1, 1}, {l.pad, l.pad}, {true, false, false}));
    }
    const int64_t oc = l.weight.size(0), ic = l.weight.size(1);
    const memory::desc w({oc, ic, l.k, l.k}, Dt::f32, Tag::any);
    const memory::desc gi(memory::dims(st.inDims.begin(), st.inDims.end()), Dt::f32, Tag::any);
    const memory::desc gd(memory::dims(st.outDims.begin(), st.outDims.end()), Dt::f32, Tag::any);
    const memory::dims pad{l.pad, l.pad};
#if DNNL_VERSION_MAJOR >= 3
    dnnl::convolution_backward_data::primitive_desc pd(Engine(), dnnl::algorithm::convolution_direct, gi, w, gd, kOne, pad, pad, *st.conv);
#else
    dnnl::convolution_backward_data::primitive_desc pd(
        dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, gi, w, gd, kOne, pad, pad), Engine(), *st.conv);
#endif
    const at::Tensor wt = l.weight.contiguous();
    Buffer wb = Relayout(s, Wrap(wt, memory::desc({oc, ic, l.k, l.k}, Dt::f32, Tag::oihw)), pd.weights_desc());
    g = Relayout(s, g, pd.diff_dst_desc());
    Buffer gx = Allocate(pd.diff_src_desc());
    dnnl::convolution_backward_data(pd).execute(s, {{DNNL_ARG_DIFF_DST, g.mem}, {DNNL_ARG_WEIGHTS, wb.mem}, {DNNL_ARG_DIFF_SRC, gx.mem}});
    s.wait();
    g = Relayout(s, gx, inDesc);
  }
  at::Tensor gx = at::empty(dims, x.options());
  Buffer plain = Wrap(gx, Plain(dims));
  dnnl::reorder(g.mem, plain.mem).execute(s, g.mem, plain.mem);
  s.wait();
  return gx;
}

memory::dims DimsOf(const memory::desc& d) {
#if DNNL_VERSION_MAJOR >= 3
  return d.get_dims();
#else
  return d.dims();
#endif
}

// Plans the forward's stages for some of its rows (`rows`, of n) into saved.rowStages and copies
// each kept buffer's rows into saved.rowKept; kept for the next backward through the same rows.
// False where a kept buffer's layout for those rows is not the first rows of its layout for all n
// (then a row is not one run of bytes).
bool RowsOf(Saved& saved, std::vector<int64_t> dims, const std::vector<int64_t>& rows) {
  if (!saved.rowStages.empty() && rows == saved.lastRows) return true;
  saved.lastRows.clear();
  saved.rowStages.clear();
  saved.rowKept.clear();
  const int64_t n = dims[0], m = static_cast<int64_t>(rows.size());
  dims[0] = m;
  std::vector<Stage> stages = Plan(dims, Plain(dims), saved.layers);
  std::vector<Buffer> kept;
  for (size_t j = 0; j < saved.layers.size(); j++) {
    const Buffer& k = saved.kept[j];
    if (!k.bytes.defined()) {
      kept.emplace_back();
      continue;
    }
    const memory::desc want = saved.layers[j].pool ? stages[j].pool->workspace_desc() : stages[j].dst;
    const memory::desc have = k.mem.get_desc();
    memory::dims first = DimsOf(have);
    first[0] = m;
    try {
      if (!(have.submemory_desc(first, memory::dims(first.size(), 0)) == want)) return false;
    } catch (const dnnl::error&) {
      return false;  // a layout that blocks the rows
    }
    const int64_t row = k.bytes.numel() / n;
    if (k.bytes.numel() % n != 0 || static_cast<size_t>(row * m) != want.get_size()) return false;
    at::Tensor picked = at::empty({row * m}, at::kByte);
    const uint8_t* from = k.bytes.data_ptr<uint8_t>();
    uint8_t* to = picked.data_ptr<uint8_t>();
    for (int64_t i = 0; i < m; i++) std::memcpy(to + i * row, from + rows[i] * row, row);
    kept.push_back(Buffer{picked, memory(want, Engine(), picked.data_ptr())});
  }
  saved.lastRows = rows;
  saved.rowStages = std::move(stages);
  saved.rowKept = std::move(kept);
  return true;
}

// The rows the backward has run (convStackBackwardRows).
std::atomic<int64_t> backwardRows{0};

// The input gradient. Rows whose output gradient is all zero get a zero input gradient without
// running (FAB's step takes the gradient of some of the rows it judged with the same forward):
// the others run as a batch of their own, their values those of the whole batch's backward.
at::Tensor Backward(const at::Tensor& x, const at::Tensor& gradOut, Saved& saved) {
  const at::Tensor go = gradOut.contiguous();
  const int64_t n = go.size(0);
  const at::Tensor rows = go.reshape({n, -1}).ne(0).any(1).nonzero().squeeze(1).contiguous();
  const int64_t m = rows.size(0);
  const bool some = m > 0 && m < n && RowsOf(saved, x.sizes().vec(), std::vector<int64_t>(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + m));
  backwardRows += some || m == 0 ? m : n;
  if (m == 0) return at::zeros(x.sizes(), x.options());
  if (!some) return BackwardOn(x, go, saved.layers, saved.stages, saved.kept);
  const at::Tensor gm = BackwardOn(x.index_select(0, rows), go.index_select(0, rows), saved.layers, saved.rowStages, saved.rowKept);
  return at::zeros(x.sizes(), x.options()).index_copy_(0, rows, gm);
}

struct ConvStackFn : public torch::autograd::Function<ConvStackFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, std::vector<Layer> layers) {
    auto saved = c10::make_intrusive<Saved>();
    at::Tensor y = Forward(x, layers, saved.get());
    saved->layers = std::move(layers);
    ctx->save_for_backward({x});
    ctx->saved_data["stack"] = c10::IValue::make_capsule(saved);
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    auto saved = c10::static_intrusive_pointer_cast<Saved>(ctx->saved_data["stack"].toCapsule());
    if (at::GradMode::is_enabled()) {
      // create_graph: libtorch's ops, which it can differentiate again
      at::Tensor xi = x.detach().requires_grad_(true);
      at::Tensor y = ByOps(xi, saved->layers);
      return {torch::autograd::grad({y}, {xi}, {grads[0]}, true, true)[0], at::Tensor()};
    }
    return {Backward(x, grads[0], *saved), at::Tensor()};
  }
};

#endif  // SAURON_DNNL

// Whether the stack can run x, of logical dims [N, C, H, W]: CPU float32 with autocast off,
// weights CPU float32 that want no gradient now, kernels square with stride 1, poolings that tile
// their input.
const char* Unsupported(const at::Tensor& x, const std::vector<int64_t>& dims, const std::vector<Layer>& layers) {
  if (!(x.device().is_cpu() && x.scalar_type() == at::kFloat && x.numel() > 0)) return "the input is not a CPU float32 tensor";
  if (AutocastEnabled(c10::DeviceType::CPU)) return "autocast is on";
  int64_t c = dims[1], h = dims[2], w = dims[3];
  for (const Layer& l : layers) {
    if (l.pool) {
      if (l.k < 1 || h % l.k != 0 || w % l.k != 0) return "a pooling does not tile its input";
      h /= l.k;
      w /= l.k;
      continue;
    }
    const at::Tensor& wt = l.weight;
    if (!(wt.device().is_cpu() && wt.scalar_type() == at::kFloat && wt.dim() == 4 && wt.size(1) == c && wt.size(2) == l.k && wt.size(3) == l.k))
      return "a convolution's weight does not fit (CPU float32 [out, in, k, k] with in = the input's channels)";
    if (l.bias.defined() && !(l.bias.device().is_cpu() && l.bias.scalar_type() == at::kFloat && l.bias.dim() == 1 && l.bias.size(0) == wt.size(0)))
      return "a convolution's bias does not fit";
    if (at::GradMode::is_enabled() && (wt.requires_grad() || (l.bias.defined() && l.bias.requires_grad())))
      return "a convolution's weight wants a gradient";
    // conv.cc takes the input gradient of 1 to 3 channels from the im2col kernel, which needs the
    // layer's NCHW input: the stack keeps only the first layer's
    if (&l != &layers.front() && c <= 3) return "a convolution after the first has 1 to 3 input channels";
    if (l.pad < 0 || h + 2 * l.pad < l.k || w + 2 * l.pad < l.k) return "a convolution's kernel is larger than its padded input";
    c = wt.size(0);
    h = h + 2 * l.pad - l.k + 1;
    w = w + 2 * l.pad - l.k + 1;
  }
  return nullptr;
}

const char* Unsupported(const at::Tensor& x, const std::vector<Layer>& layers) {
  if (x.dim() != 4) return "the input is not a CPU float32 [N, C, H, W] tensor";
  return Unsupported(x, x.sizes().vec(), layers);
}

std::vector<Layer> ReadLayers(Napi::Env env, const Napi::Value& v) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, "convStack: layers must be an array");
  auto arr = v.As<Napi::Array>();
  std::vector<Layer> layers;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value e = arr.Get(i);
    if (!e.IsObject()) throw Napi::TypeError::New(env, "convStack: each layer must be an object");
    auto o = e.As<Napi::Object>();
    Layer l;
    const std::string kind = o.Get("kind").IsString() ? o.Get("kind").As<Napi::String>().Utf8Value() : "";
    if (kind != "conv" && kind != "pool") throw Napi::TypeError::New(env, "convStack: a layer's kind must be 'conv' or 'pool'");
    l.pool = kind == "pool";
    Napi::Value kv = o.Get("kernel");
    Napi::Array one = Napi::Array::New(env, 1);
    one.Set(0u, kv);
    l.k = ToIntVector(env, one, "convStack: kernel")[0];
    if (!l.pool) {
      Napi::Array p = Napi::Array::New(env, 1);
      p.Set(0u, o.Get("padding"));
      l.pad = ToIntVector(env, p, "convStack: padding")[0];
      l.relu = o.Get("relu").ToBoolean().Value();
      l.weight = TensorWrap::From(env, o.Get("weight"));
      Napi::Value b = o.Get("bias");
      if (!(b.IsNull() || b.IsUndefined())) l.bias = TensorWrap::From(env, b);
    }
    if (l.k < 1) throw Napi::RangeError::New(env, "convStack: kernel must be at least 1");
    layers.push_back(l);
  }
  if (layers.empty()) throw Napi::RangeError::New(env, "convStack: no layers");
  return layers;
}

// convStackAvailable(): whether the addon was built with oneDNN.
Napi::Value Available(const Napi::CallbackInfo& info) {
#ifdef SAURON_DNNL
  return Napi::Boolean::New(info.Env(), true);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

// convStackUnsupported(x, layers): why the stack cannot run x (a string), or null.
Napi::Value WhyNot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor x = TensorWrap::From(env, info[0]);
  const auto layers = ReadLayers(env, info[1]);
  SAURON_GUARD(env, {
    const char* why = Unsupported(x, layers);
    return why ? Napi::Value(Napi::String::New(env, why)) : env.Null();
  })
}

// convStackBackwardRows(): the rows the stack's backward has run in this process (tests check
// that rows with a zero output gradient were left out).
Napi::Value BackwardRows(const Napi::CallbackInfo& info) {
#ifdef SAURON_DNNL
  return Napi::Number::New(info.Env(), static_cast<double>(backwardRows.load()));
#else
  return Napi::Number::New(info.Env(), 0);
#endif
}

// convStack(x, layers): the stack's output [N, C', H', W'], recording x's gradient when it wants one.
Napi::Value ConvStack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor x = TensorWrap::From(env, info[0]);
  auto layers = ReadLayers(env, info[1]);
  SAURON_GUARD(env, {
    if (const char* why = Unsupported(x, layers)) throw std::invalid_argument(std::string("convStack: ") + why);
#ifdef SAURON_DNNL
    const at::Tensor xc = x.contiguous();
    if (x.requires_grad() && at::GradMode::is_enabled()) return TensorWrap::Wrap(env, ConvStackFn::apply(xc, layers));
    return TensorWrap::Wrap(env, Forward(xc, layers, nullptr));
#else
    return TensorWrap::Wrap(env, ByOps(x, layers));
#endif
  })
}

// convStackBlocked(x, layers, block): the stack's output without recording a gradient, for x
// [N, C, H, W] or channel-blocked [N, C / B, H, W, B]; the output blocked by `block` (0: plain
// NCHW; -1: as oneDNN's last layer leaves it when BlockedTag has that layout, else plain). Square's
// local forward keeps its activations blocked, so its windows are cut without reorders.
Napi::Value ConvStackBlocked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor x = TensorWrap::From(env, info[0]);
  auto layers = ReadLayers(env, info[1]);
  const int64_t block = info[2].As<Napi::Number>().Int64Value();
  SAURON_GUARD(env, {
#ifdef SAURON_DNNL
    if (x.dim() != 4 && x.dim() != 5) throw std::invalid_argument("convStackBlocked: expected [N, C, H, W] or [N, C / B, H, W, B]");
    if (x.dim() == 5 && !BlockedTag(x.size(4))) throw std::invalid_argument("convStackBlocked: the input's block must be 8 or 16");
    const std::vector<int64_t> dims =
        x.dim() == 4 ? x.sizes().vec() : std::vector<int64_t>{x.size(0), x.size(1) * x.size(4), x.size(2), x.size(3)};
    if (const char* why = Unsupported(x, dims, layers)) throw std::invalid_argument(std::string("convStackBlocked: ") + why);
    if (x.requires_grad() && at::GradMode::is_enabled()) throw std::invalid_argument("convStackBlocked: records no gradient");
    const at::Tensor xc = x.contiguous();
    const memory::desc src = x.dim() == 4 ? Plain(dims) : memory::desc(memory::dims(dims.begin(), dims.end()), Dt::f32, *BlockedTag(x.size(4)));
    auto stages = Plan(dims, src, layers);
    const auto out = stages.back().outDims;
    const int64_t b = block < 0 ? ChosenBlock(stages) : block;
    if (b != 0 && (!BlockedTag(b) || out[1] % b != 0))
      throw std::invalid_argument("convStackBlocked: the block must be 0, 8 or 16 and divide the output's channels");
    at::Tensor y = b ? at::empty({out[0], out[1] / b, out[2], out[3], b}, x.options()) : at::empty(out, x.options());
    const memory::desc yd = b ? memory::desc(memory::dims(out.begin(), out.end()), Dt::f32, *BlockedTag(b)) : Plain(out);
    Run(xc, src, std::move(stages), layers, nullptr, Wrap(y, yd));
    return TensorWrap::Wrap(env, y);
#else
    throw std::invalid_argument("convStackBlocked: the addon was built without oneDNN");
#endif
  })
}

}  // namespace

void InitConvStack(Napi::Env env, Napi::Object exports) {
  exports.Set("convStackAvailable", Napi::Function::New(env, Available));
  exports.Set("convStackUnsupported", Napi::Function::New(env, WhyNot));
  exports.Set("convStack", Napi::Function::New(env, ConvStack));
  exports.Set("convStackBlocked", Napi::Function::New(env, ConvStackBlocked));
  exports.Set("convStackBackwardRows", Napi::Function::New(env, BackwardRows));
}

}  // namespace sauron
