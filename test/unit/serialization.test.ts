import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scope, type Tensor } from '../../src/index.js';
import { tensor } from '../../src/tensor/index.js';
import { saveSafetensors, loadSafetensors } from '../../src/serialization/index.js';

test('safetensors round-trips every stored dtype with shapes and metadata, 8-byte aligned', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sauron-st-'));
  try {
    scope(() => {
      const src = new Map<string, Tensor>([
        ['f32', tensor(new Float32Array([1.5, -2, 3, 4, 5, 6]), { shape: [2, 3] })],
        ['f64', tensor(new Float64Array([Math.E]))],
        ['i64', tensor(new BigInt64Array([-(2n ** 50n), 3n]))],
        ['i32', tensor(new Int32Array([7]), { shape: [] })],
        ['u8', tensor(new Uint8Array([0, 200]))],
        ['b', tensor(new Uint8Array([1, 0, 1]), { dtype: 'bool' })],
        ['empty', tensor(new Float32Array(0), { shape: [0, 4] })],
      ]);
      const p = join(dir, 'x.safetensors');
      saveSafetensors(p, src, { note: 'hello' });
      const bytes = readFileSync(p);
      assert.equal((8 + Number(bytes.readBigUInt64LE(0))) % 8, 0);
      const { tensors, metadata } = loadSafetensors(p);
      assert.equal(metadata.note, 'hello');
      assert.deepEqual([...tensors.keys()], [...src.keys()]);
      for (const [k, t] of src) {
        const u = tensors.get(k)!;
        assert.equal(u.dtype, t.dtype, k);
        assert.deepEqual(u.shape, t.shape, k);
        assert.deepEqual(u.toArray(), t.toArray(), k);
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reads safetensors written by another implementation (the python fixture)', () => {
  const { tensors, metadata } = loadSafetensors(
    join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..', 'fixtures', 'engine.safetensors'),
  );
  try {
    assert.ok(JSON.parse(metadata.json!).torch.startsWith('1.'));
    assert.equal(tensors.get('vgg.y')!.dtype, 'int64');
    assert.deepEqual(tensors.get('vgg.x')!.shape, [3, 3, 32, 32]);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
});
