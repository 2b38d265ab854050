import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensors, type Tensor } from '../src/index.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

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

/** A TCP port on 127.0.0.1 that was free a moment ago (for rendezvous in multi-process tests). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
