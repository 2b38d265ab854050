// Seedable random number generators, one kind per device as in PyTorch (the CPU's Mersenne
// Twister, CUDA's Philox), so a given seed gives the same numbers as
// torch.Generator(device).manual_seed(seed) on that device.
import { native, type NativeGenerator } from '../native.js';
import { Tensor } from './tensor.js';
import { canonicalDevice, hostSide, type Device } from './deviceState.js';

/**
 * A seeded random generator (torch.Generator) on a device: every random function takes one, so a run's
 * draws are reproducible. The default seed is PyTorch's.
 *
 * @example
 * ```ts
 * const g = new Generator(0);
 * const x = rand([2, 3], { generator: g }); // the same numbers for the same seed
 * ```
 */
export class Generator {
  readonly native: NativeGenerator;
  readonly device: Device;

  constructor(seed: number | bigint = 67280421310721, device: Device = 'cpu') {
    this.device = canonicalDevice(device);
    this.native = new native.Generator(seed, this.device);
  }

  /** Reseeds this generator. */
  manualSeed(seed: number | bigint): this {
    this.native.manualSeed(seed);
    return this;
  }

  get initialSeed(): bigint {
    return this.native.initialSeed();
  }

  /** The full generator state as bytes, for checkpoints. */
  getState(): Uint8Array {
    // A generator's state is a host byte tensor whatever its device.
    return hostSide(() => {
      const t = new Tensor(this.native.getState());
      try {
        return t.toArray<'uint8'>();
      } finally {
        t.dispose();
      }
    });
  }

  /** Restores a state `getState()` returned. */
  setState(state: Uint8Array): this {
    hostSide(() => {
      const t = new Tensor(native.fromArray(state, [state.length], 'uint8'));
      try {
        this.native.setState(t.native);
      } finally {
        t.dispose();
      }
    });
    return this;
  }
}

/** A generator seeded from a run seed and stream tags (epoch, purpose, index), so every random
 * stream of a run is reproducible on its own (a host generator: see docs/gpus-and-clusters.md on devices). */
export function derivedGenerator(seed: number, ...tags: number[]): Generator {
  // splitmix-style mixing keeps nearby (seed, epoch) pairs far apart.
  let h = BigInt(seed) & 0xffffffffffffn;
  for (const t of tags) {
    h = ((h ^ BigInt(t)) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    h ^= h >> 31n;
  }
  return new Generator(h & 0x1fffffffffffffn);
}

/** Seeds libtorch's default generator (used by dropout and by ops given no generator). */
export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0) throw new TypeError(`seed must be a non-negative integer, got ${seed}`);
  native.manualSeed(seed);
}
