// The stages of a local forward (localForward.ts): a model's spatial stack read as convolutions
// and poolings, each with the pointwise layers after it; how far a changed square reaches
// through them, the work that saves, and each stage as the native stack runs it.
import type { ConvStackLayer } from '../tensor/convStack.js';
import { stackLayersOf, stackPartOf } from './convStack.js';
import { AvgPool2d, BatchNorm2d, Conv2d, MaxPool2d, ReLU } from './layers.js';
import type { AnyModule } from './module.js';

/** A spatial layer and the pointwise layers after it; its output is cached padded by the next convolution's padding. */
export interface Stage {
  kind: 'conv' | 'pool';
  layer: AnyModule;
  /** Kernel (conv: its side; pool: its side and stride) and padding (conv). */
  k: number;
  pad: number;
  after: AnyModule[];
  /** Output planes. */
  h: number;
  w: number;
  channels: number;
}

const pointwise = (l: AnyModule) => l instanceof ReLU || l instanceof BatchNorm2d || (l instanceof AvgPool2d && side(l.kernelSize) === 1);
const side = (p: number | [number, number]) => (typeof p === 'number' ? p : p[0] === p[1] ? p[0] : Number.NaN);

/** The stages of `layers` for images [c, h, w], or null when a layer is not one a local forward can run on windows. */
export function stagesOf(layers: readonly AnyModule[], input: [number, number, number]): Stage[] | null {
  const stages: Stage[] = [];
  let [channels, h, w] = input;
  for (const l of layers) {
    if (pointwise(l)) {
      if (l instanceof BatchNorm2d && l.training) return null;
      if (!stages.length) return null;
      stages[stages.length - 1]!.after.push(l);
    } else if (l instanceof Conv2d) {
      const k = side(l.kernelSize);
      const pad = side(l.opts.padding ?? 0);
      if (!(k % 2 === 1 && pad === (k - 1) / 2 && side(l.opts.stride ?? 1) === 1 && side(l.opts.dilation ?? 1) === 1)) return null;
      if ((l.opts.groups ?? 1) !== 1) return null;
      channels = l.outChannels;
      stages.push({ kind: 'conv', layer: l, k, pad, after: [], h, w, channels });
    } else if (l instanceof MaxPool2d) {
      const k = side(l.kernelSize);
      // planes that the windows tile: every input row is in some window
      if (!(Number.isInteger(k) && side(l.stride ?? l.kernelSize) === k && side(l.padding) === 0 && h % k === 0 && w % k === 0))
        return null;
      [h, w] = [Math.floor(h / k), Math.floor(w / k)];
      if (!(h > 0 && w > 0)) return null;
      stages.push({ kind: 'pool', layer: l, k, pad: 0, after: [], h, w, channels });
    } else {
      return null;
    }
  }
  return stages.length ? stages : null;
}

/** The window of a stage's output a change of hh x ww in its input reaches. */
export function grow(st: Stage, hh: number, ww: number): [number, number] {
  if (st.kind === 'conv') return [Math.min(hh + st.k - 1, st.h), Math.min(ww + st.k - 1, st.w)];
  const k = st.k;
  return [Math.min(Math.floor((hh + k - 2) / k) + 1, st.h), Math.min(Math.floor((ww + k - 2) / k) + 1, st.w)];
}

/** Multiply-adds of the convolutions per row (images of `channels` channels), for every position (full) and for a changed square of side s (local). */
export function workOf(stages: readonly Stage[], channels: number, s: number): { full: number; local: number } {
  let full = 0;
  let local = 0;
  let [hh, ww] = [s, s];
  let inChannels = channels;
  for (const st of stages) {
    [hh, ww] = grow(st, hh, ww);
    if (st.kind === 'conv') {
      const perPosition = st.channels * inChannels * st.k * st.k;
      full += st.h * st.w * perPosition;
      local += hh * ww * perPosition;
    }
    inChannels = st.channels;
  }
  return { full, local };
}

/** A stage as the native stack's layers (its convolution padded by `padding`), or null where the stack cannot run it now. */
export function stageStackLayers(st: Stage, padding: number): ConvStackLayer[] | null {
  const own = stackPartOf(st.layer);
  // an average pooling of side 1 (the only one a stage holds) copies its input exactly
  const rest = st.after.filter((l) => !(l instanceof AvgPool2d)).map(stackPartOf);
  return stackLayersOf([own?.kind === 'conv' ? { ...own, padding } : own, ...rest]);
}
