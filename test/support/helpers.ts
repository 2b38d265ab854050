import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reproduceSettings, type ReproduceSettings, type Tensor } from '../../src/index.js';
import { loadSafetensors } from '../../src/serialization/index.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** max |a - b| / max(max |b|, scale) over all elements. */
export function relErr(a: Tensor, b: Tensor, scale = 0): number {
  if (a.shape.join(',') !== b.shape.join(',')) throw new Error(`shape [${a.shape}] vs [${b.shape}]`);
  const x = a.toFloat32Array();
  const y = b.toFloat32Array();
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num = Math.max(num, Math.abs(x[i]! - y[i]!));
    den = Math.max(den, Math.abs(y[i]!));
  }
  den = Math.max(den, scale);
  return den === 0 ? num : num / den;
}

let cached: { tensors: Map<string, Tensor>; meta: any } | null = null;

/** The python3-torch fixture (fixtures/generate_engine.py); tensors are kept for the whole run. */
export function engineFixture(): { tensors: Map<string, Tensor>; meta: any } {
  if (!cached) {
    const f = loadSafetensors(join(ROOT, 'fixtures', 'engine.safetensors'));
    for (const t of f.tensors.values()) t.keep();
    cached = { tensors: f.tensors, meta: JSON.parse(f.metadata.json!) };
  }
  return cached;
}

export function fx(name: string): Tensor {
  const t = engineFixture().tensors.get(name);
  if (!t) throw new Error(`fixture has no tensor ${name}`);
  return t;
}

/** A free TCP port on 127.0.0.1, for rendezvous in multi-process tests. */
export { freePort } from '../../src/experiments/launchProcesses.js';

/** `reproduce` at toy size: seconds for the whole pipeline (tests of its files, resume and kills). */
export function tinyReproduceSettings(): ReproduceSettings {
  const s = reproduceSettings('fashion-mnist', true, 0);
  const small = { width: 0.125, epochs: 1, limit: 512, testLimit: 128, batchSize: 64, validation: { eps: 1.5, steps: 2, limit: 16 } };
  return {
    ...s,
    train: {
      standard: { ...small, method: 'standard' },
      l2: { ...small, method: 'pgd', adversarial: { norm: 'l2', eps: 1.5, steps: 1 } },
      linf: { ...small, method: 'pgd', adversarial: { norm: 'linf', eps: 0.1, steps: 1 } },
      sensitivity: { ...small, method: 'sensitivity', regularizer: { topK: 8, delta1: 10, delta2: 100 } },
    },
    inputs: 12,
    pgd: { iterations: 3, restarts: 1 },
    kns: { iterations: 3, neurons: [1, 2, 4], ranks: 4 },
    sweep: { l2: [0.5, 1.5], linf: [0.1], inputs: 8 },
    sensitivity: { limit: 48, statsSplit: 'test' },
    pruning: { steps: 2, limit: 128, attackLimit: 8, attackSteps: 2 },
    autoattack: { version: 'custom', attacks: ['apgd-ce'], inputs: 6 },
    batchSize: 32,
  };
}

/**
 * Polls until `cond` holds; fails as soon as `child` has exited instead (no wall-clock bound:
 * a child that neither gets there nor exits hangs the test, which the runner reports).
 */
export async function waitUntil(cond: () => boolean, what: string, child: ChildProcess): Promise<void> {
  while (!cond()) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the child exited (${child.signalCode ?? child.exitCode}) before ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A test pause point (src/serialization/testPause.ts): `env` makes a child command stop at
 * `point`; `reached` waits until it has; `release` lets it go on. Tests that kill a command at
 * a known point use it instead of racing the command.
 */
export function pauseAt(
  point: string,
  file: string,
): { env: Record<string, string>; reached: (child: ChildProcess) => Promise<void>; release: () => void } {
  return {
    env: { SAURON_TEST_PAUSE_AT: point, SAURON_TEST_PAUSE_FILE: file },
    reached: (child) => waitUntil(() => existsSync(`${file}.paused`), `pausing at '${point}'`, child),
    release: () => writeFileSync(file, ''),
  };
}
