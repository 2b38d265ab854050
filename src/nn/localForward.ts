// A forward pass that recomputes only what a small change reaches. Square's later queries each
// change one small square of an image the model has already seen; in a stack of convolutions
// (stride 1), tiled max pooling and pointwise layers, that square reaches a window of every
// activation that grows by the kernel's reach at each convolution and shrinks at each pooling.
// The stack's activations for the kept images are cached; a query cuts from them the window
// each layer needs, places the change of the layer before in it and runs the layer on it (the
// same kernels on fewer positions, so the same sums: the logits are bit-identical to a full
// forward, test/unit/localForward.test.ts). The caches take the changes only in the rows
// whose candidate is kept. Where the native convolution stack runs every stage, the caches are
// kept in oneDNN's channel-blocked layout: a window row is then one run of all of a block's
// channels, and the stages read and write it without reorders.
import { convStackBlocked, convStackUnsupported, unblocked } from '../tensor/convStack.js';
import type { Tensor } from '../tensor/tensor.js';
import { putWindows_, windows } from '../tensor/window.js';
import * as F from './functional.js';
import { runConvStack, stackPartOf } from './convStack.js';
import type { Conv2d } from './layers.js';
import { grow, stageStackLayers, stagesOf, workOf, type Stage } from './localStages.js';
import type { AnyModule } from './module.js';

/** A model's forward as a local forward runs it: pointwise preprocessing, a stack of layers, and the rest. */
export interface LocalPlan {
  /** Pointwise on images [n, c, h, w] (the model's normalisation). */
  normalize: (x: Tensor) => Tensor;
  /** The spatial stack, in order: Conv2d (stride 1, no dilation or groups), MaxPool2d (kernel = stride, no padding), ReLU, BatchNorm2d (eval), AvgPool2d(1). */
  layers: readonly AnyModule[];
  /** Logits from the stack's last output. */
  tail: (h: Tensor) => Tensor;
}

/** One window per row, of one size: corners [n] and sides. */
interface Region {
  ys: Int32Array;
  xs: Int32Array;
  hh: number;
  ww: number;
}

/** A change to cache `cache`: each row's values [n, c, hh, ww] at its corner (padded coordinates). */
interface Pending {
  cache: number;
  ys: Int32Array;
  xs: Int32Array;
  values: Tensor;
}

const clampCorner = (v: Int32Array, shift: (c: number) => number, hi: number) =>
  Int32Array.from(v, (c) => Math.min(Math.max(shift(c), 0), hi));

/**
 * The local forward of a plan: `start` caches a batch's activations, `change` gives the logits
 * with each row's window replaced, `settle` keeps or refuses each row's change, `keepRows`
 * narrows the batch. Owns its caches: `dispose` frees them.
 */
export class LocalForward {
  readonly #plan: LocalPlan;
  readonly #stages: Stage[];
  readonly #input: [number, number, number];
  /** The batch's activations: the normalised images, then each stage's output, padded for the convolution reading it. */
  #caches: Tensor[] = [];
  /** Per cache, its channel block ([n, c / b, h, w, b]; 0: [n, c, h, w]) when the native stack runs the stages; null: layer by layer. */
  #blocks: number[] | null = null;
  #pending: Pending[] = [];

  private constructor(plan: LocalPlan, stages: Stage[], input: [number, number, number]) {
    this.#plan = plan;
    this.#stages = stages;
    this.#input = input;
  }

  /** The local forward of `plan` for images [c, h, w], or null when a layer is not one it can run on windows. */
  static of(plan: LocalPlan, input: [number, number, number]): LocalForward | null {
    const stages = stagesOf(plan.layers, input);
    return stages ? new LocalForward(plan, stages, input) : null;
  }

  /** Multiply-adds of the convolutions per row, for every position (full) and for a changed square of side s (local). */
  work(s: number): { full: number; local: number } {
    return workOf(this.#stages, this.#input[0], s);
  }

  /**
   * Whether a square of side s pays for its windows: the convolutions' local work is under
   * half of a full pass. The window copies cost what a full pass does not; on the default
   * model a local query wins at 41% of the work and loses at 59% (BENCHMARKS.md, "Square's
   * local forward").
   */
  pays(s: number): boolean {
    const { full, local } = this.work(s);
    return local < full / 2;
  }

  /** Whether the batch held is cached channel-blocked (the native stack runs every stage on it). */
  get blocked(): boolean {
    return this.#blocks?.some((b) => b > 0) ?? false;
  }

  /** Float32 values the caches hold per row. */
  cachedPerRow(): number {
    let n = this.#input[0] * (this.#input[1] + 2 * this.#padOf(0)) * (this.#input[2] + 2 * this.#padOf(0));
    this.#stages.forEach((st, i) => {
      n += st.channels * (st.h + 2 * this.#padOf(i + 1)) * (st.w + 2 * this.#padOf(i + 1));
    });
    return n;
  }

  /** A full forward of images x [n, c, h, w], caching its activations (replacing the batch held); the logits. */
  start(x: Tensor): Tensor {
    this.#drop();
    let h = this.#plan.normalize(x);
    const last = this.#stages.length - 1;
    const layers = x.shape[0]! >= 2 ? this.#stages.map((st) => stageStackLayers(st, st.pad)) : [];
    const native = layers.length > 0 && layers.every(Boolean) && convStackUnsupported(h, layers[0]!) === null;
    this.#blocks = native ? [0] : null;
    this.#stages.forEach((st, i) => {
      this.#caches.push(this.#padded(h, this.#padOf(i)));
      if (native) {
        // the last stage's output plain: the tail reads it as [n, c, h, w]
        h = convStackBlocked(h, layers[i]!, i === last ? 0 : -1);
        this.#blocks!.push(h.ndim === 5 ? h.shape[4]! : 0);
      } else {
        h = st.after.reduce((a, l) => l.forward(a), st.layer.forward(h));
      }
    });
    this.#caches.push(h.keep());
    return this.#plan.tail(h);
  }

  /**
   * The logits of the cached images with row r's window of `patch` [n, c, s, s] placed at
   * (ys[r], xs[r]). The caches are left as they were; {@link settle} writes the change into
   * the rows that keep it.
   */
  change(ys: Int32Array, xs: Int32Array, patch: Tensor): Tensor {
    if (this.#pending.length) throw new Error('LocalForward: settle the previous change first');
    let r: Region = { ys, xs, hh: patch.shape[2]!, ww: patch.shape[3]! };
    let changed = this.#hold(0, r, this.#plan.normalize(patch));
    this.#stages.forEach((st, i) => {
      const [hh, ww] = grow(st, r.hh, r.ww);
      const k = st.k;
      let next: Region;
      // the window of stage i's input its changed outputs read (in the cache's padded coordinates)
      let input: Region;
      if (st.kind === 'conv') {
        const reach = k - 1 - st.pad;
        next = { ys: clampCorner(r.ys, (c) => c - reach, st.h - hh), xs: clampCorner(r.xs, (c) => c - reach, st.w - ww), hh, ww };
        input = { ys: next.ys, xs: next.xs, hh: hh + k - 1, ww: ww + k - 1 };
      } else {
        const corner = (v: Int32Array, high: number) => clampCorner(v, (c) => Math.floor(c / k), high);
        next = { ys: corner(r.ys, st.h - hh), xs: corner(r.xs, st.w - ww), hh, ww };
        input = { ys: next.ys.map((c) => c * k), xs: next.xs.map((c) => c * k), hh: hh * k, ww: ww * k };
      }
      const x = windows(this.#caches[i]!, input.ys, input.xs, input.hh, input.ww);
      // the change lies inside that window (the window covers every output it reaches)
      const at = (v: Int32Array, from: Int32Array) => v.map((c, row) => c - from[row]!);
      putWindows_(x, at(changed.ys, input.ys), at(changed.xs, input.xs), changed.values);
      let out: Tensor;
      let rest = st.after;
      if (this.#blocks) {
        const layers = stageStackLayers(st, 0);
        if (!layers) throw new Error('LocalForward: a stage the native stack ran at start cannot run on it now; start again');
        out = convStackBlocked(x, layers, this.#blocks[i + 1]!);
        rest = [];
      } else if (st.kind === 'conv') {
        const conv = st.layer as Conv2d;
        const f = conv.folded;
        // the window is unpadded input: the convolution runs without padding
        const stack = runConvStack(x, () => [{ ...conv.stackPart()!, padding: 0 }, ...st.after.map(stackPartOf)], 1);
        out = stack ? stack.out : F.conv2d(x, f ? f.weight : conv.weight, f ? f.bias : conv.bias);
        if (stack) rest = st.after.slice(stack.count - 1);
      } else {
        out = st.layer.forward(x);
      }
      changed = this.#hold(
        i + 1,
        next,
        rest.reduce((a, l) => l.forward(a), out),
      );
      r = next;
    });
    const last = this.#caches[this.#caches.length - 1]!.clone();
    return this.#plan.tail(putWindows_(last, changed.ys, changed.xs, changed.values));
  }

  /** Writes the last change into the rows where `keep` [n] (bool) is true; the others keep their images. */
  settle(keep: Tensor): void {
    for (const p of this.#pending) putWindows_(this.#caches[p.cache]!, p.ys, p.xs, p.values, keep);
    this.#forget();
  }

  /** Keeps the rows at `index` (int64 [m]) of the batch, in that order. */
  keepRows(index: Tensor): void {
    if (this.#pending.length) throw new Error('LocalForward: settle the change before narrowing the batch');
    // a lone row runs layer by layer, as a full forward of one image does
    const plain = this.#blocks !== null && index.shape[0]! < 2;
    this.#caches = this.#caches.map((c) => {
      const rows = c.indexSelect(0, index);
      const kept = (plain ? unblocked(rows) : rows).keep();
      c.dispose();
      return kept;
    });
    if (plain) this.#blocks = null;
  }

  /** Frees the caches and a change not yet settled. */
  dispose(): void {
    this.#forget();
    this.#drop();
  }

  #padded(h: Tensor, pad: number): Tensor {
    // F.pad's sizes run from the last dimension: a blocked cache's block is not padded
    const sides = h.ndim === 5 ? [0, 0, pad, pad, pad, pad] : [pad, pad, pad, pad];
    return (pad ? F.pad(h, sides) : h.contiguous()).keep();
  }

  /** The padding of cache i (the convolution reading it). */
  #padOf(i: number): number {
    const st = this.#stages[i];
    return st?.kind === 'conv' ? st.pad : 0;
  }

  /** Holds a change to cache i until settle: values at region r of the unpadded plane. */
  #hold(i: number, r: Region, values: Tensor): Pending {
    const pad = this.#padOf(i);
    const p = { cache: i, ys: r.ys.map((c) => c + pad), xs: r.xs.map((c) => c + pad), values: values.contiguous().keep() };
    this.#pending.push(p);
    return p;
  }

  #forget(): void {
    for (const p of this.#pending) p.values.dispose();
    this.#pending = [];
  }

  #drop(): void {
    for (const c of this.#caches) c.dispose();
    this.#caches = [];
    this.#blocks = null;
  }
}
