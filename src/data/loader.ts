// Batches over a data set: fixed order for evaluation, seeded shuffling and augmentation for
// training. Randomness derives from (seed, epoch) only, so an epoch replays identically.
import { randperm } from '../tensor/creation.js';
import { derivedGenerator } from '../tensor/random.js';
import { hostSide, type Device } from '../tensor/deviceState.js';
import { isCuda } from '../tensor/device.js';
import type { Tensor } from '../tensor/tensor.js';
import { augmentBatch, type AugmentOptions } from './augment.js';
import type { Batch, ImageDataset } from './dataset.js';

/** How {@link batches} walks a data set: batch size, seeded shuffling, augmentation, device. */
export interface LoaderOptions {
  batchSize: number;
  /** Shuffle with a generator seeded from (seed, epoch). */
  shuffle?: boolean;
  seed?: number;
  epoch?: number;
  augment?: AugmentOptions;
  /** Skip the first batches (resuming within an epoch). */
  startBatch?: number;
  /**
   * Where batches arrive (default the CPU). Batches are read and augmented on the host, so
   * they are identical on every device, then staged in pinned memory and copied without
   * blocking.
   */
  device?: Device;
  /**
   * A data-parallel rank's share: each global batch of `batchSize` is split into contiguous
   * blocks across `world` ranks (sizes differ by at most one), drawn and augmented exactly as
   * the whole batch is in one process (DistributedSampler's split, per batch).
   */
  shard?: { rank: number; world: number };
  /** Only the batches this says yes to are read (the rest are skipped without loading). */
  pick?: (batch: number) => boolean;
}

/** Moves a host batch to `device` (pinned staging, asynchronous copy); frees the host copy. */
export function toDevice<B extends Batch>(batch: B, device: Device): B {
  if (device === 'cpu') return batch;
  const move = (t: Tensor): Tensor => {
    const staged = isCuda(device) ? t.pinMemory() : t;
    const out = staged.to({ device, nonBlocking: isCuda(device) });
    if (staged !== t) staged.dispose();
    t.dispose();
    return out;
  };
  return { ...batch, images: move(batch.images), labels: move(batch.labels) };
}

/** How many batches of `batchSize` a data set makes (the last may be smaller). */
export function batchCount(ds: ImageDataset, batchSize: number): number {
  return Math.ceil(ds.length / batchSize);
}

export function epochOrder(ds: ImageDataset, opts: LoaderOptions): number[] {
  if (!opts.shuffle) return Array.from({ length: ds.length }, (_, i) => i);
  const perm = randperm(ds.length, { generator: derivedGenerator(opts.seed ?? 0, opts.epoch ?? 0, 1) });
  try {
    return perm.toNumbers();
  } finally {
    perm.dispose();
  }
}

/**
 * Yields batches; the caller disposes each batch's tensors (or runs a scope per batch).
 *
 * @example
 * ```ts
 * for await (const b of batches(test, { batchSize: 256 })) {
 *   // b.images: float32 [B, C, H, W] in [0, 1] on opts.device; b.labels: int64 [B]
 *   scope(() => console.log(model.forward(b.images).logits.argmax(1).eq(b.labels).sum().item()));
 *   b.images.dispose();
 *   b.labels.dispose();
 * }
 * ```
 */
export async function* batches(ds: ImageDataset, opts: LoaderOptions): AsyncGenerator<Batch & { batch: number; globalSize: number }> {
  if (!(Number.isInteger(opts.batchSize) && opts.batchSize > 0))
    throw new RangeError(`batch size must be a positive integer, got ${opts.batchSize}`);
  const order = epochOrder(ds, opts);
  const seed = opts.seed ?? 0;
  const epoch = opts.epoch ?? 0;
  const aug = opts.augment && (opts.augment.cropPadding || opts.augment.hflip) ? opts.augment : null;
  const n = batchCount(ds, opts.batchSize);
  const shard = opts.shard;
  if (
    shard &&
    !(Number.isInteger(shard.world) && shard.world >= 1 && Number.isInteger(shard.rank) && shard.rank >= 0 && shard.rank < shard.world)
  ) {
    throw new RangeError(`shard: rank ${shard.rank} of ${shard.world} is not a rank of that world`);
  }
  for (let b = opts.startBatch ?? 0; b < n; b++) {
    if (opts.pick && !opts.pick(b)) continue;
    const all = order.slice(b * opts.batchSize, (b + 1) * opts.batchSize);
    const [lo, hi] = shard
      ? [Math.floor((shard.rank * all.length) / shard.world), Math.floor(((shard.rank + 1) * all.length) / shard.world)]
      : [0, all.length];
    const idx = all.slice(lo, hi);
    const device = opts.device ?? 'cpu';
    const host = await ds.load(idx, { augment: !!opts.augment, seed: seed * 1000003 + epoch });
    if (aug) {
      // One generator per (seed, epoch, batch): a resumed epoch draws the same augmentations.
      const images = hostSide(() => augmentBatch(host.images, aug, derivedGenerator(seed, epoch, 2, b), { offset: lo, total: all.length }));
      host.images.dispose();
      yield { ...toDevice({ ...host, images }, device), batch: b, globalSize: all.length };
    } else {
      yield { ...toDevice(host, device), batch: b, globalSize: all.length };
    }
  }
}
