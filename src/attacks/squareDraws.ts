// Square's random draws, one stream of U[0, 1) float32 numbers per row. square.py draws
// everything from torch.rand (random_int, random_choice, eta's transposition); each row here
// takes the same numbers in the same order as square.py takes them for a batch of that one
// row, and turns them into integers, signs and flags with square.py's arithmetic. So the
// reference, fed one row's numbers, makes that row's moves (fixtures/generate_square.py).
import { rand } from '../tensor/creation.js';
import { hostSide } from '../tensor/deviceState.js';
import type { Generator } from '../tensor/random.js';
import { scope } from '../tensor/scope.js';

/** One row's draws, in the order it takes them. */
export interface UniformStream {
  /** The next n numbers in [0, 1), float32 values. */
  take(n: number): Float32Array;
}

/** A row's numbers from its own generator, fetched in blocks (libtorch's CPU stream does not depend on them). */
export class GeneratorStream implements UniformStream {
  #buffer: Float32Array = new Float32Array(0);
  #at = 0;

  constructor(
    readonly generator: Generator,
    readonly block = 1024,
  ) {}

  take(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let k = 0; k < n; ) {
      if (this.#at === this.#buffer.length) {
        this.#buffer = hostSide(() => scope(() => rand([this.block], { generator: this.generator }).toArray<'float32'>()));
        this.#at = 0;
      }
      const m = Math.min(n - k, this.#buffer.length - this.#at);
      out.set(this.#buffer.subarray(this.#at, this.#at + m), k);
      this.#at += m;
      k += m;
    }
    return out;
  }
}

/** random_int(0, high): the float32 product high * u, truncated. (high = 0 gives 0.) */
export function drawInt(high: number, u: number): number {
  return Math.trunc(Math.fround(high * u));
}

/** random_choice: sign(2u - 1), exact in float32, so 0 when u is exactly 1/2. */
export function drawSign(u: number): number {
  return Math.sign(u - 0.5);
}

/** eta's transposition: torch.rand([1]) > 0.5. */
export function drawTranspose(u: number): boolean {
  return u > 0.5;
}

/** Numbers one query takes per row: the window's corner and c signs (Linf); two corners, a transposition and c signs (L2). */
export function drawsPerQuery(norm: 'l2' | 'linf', channels: number): number {
  return norm === 'linf' ? 2 + channels : 5 + channels;
}
