// Bad input gives a JS Error with libtorch's message, never a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, scope } from '../../src/index.js';
import { tensor, ones, zeros, op } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import { decodeSafetensors } from '../../src/serialization/index.js';
import * as nn from '../../src/nn/index.js';

test('libtorch errors surface as JS errors carrying its message', () => {
  scope(() => {
    const a = ones([2, 3]);
    assert.throws(() => a.matmul(ones([2, 3])), /mat1 and mat2 shapes cannot be multiplied|size mismatch/);
    assert.throws(() => a.add(ones([4])), /must match the size of tensor b/);
    assert.throws(() => a.indexSelect(1, tensor([7], { dtype: 'int64' })), /index out of range|out of DATA bounds/);
    assert.throws(() => a.gather(1, tensor([[0, 9]], { dtype: 'int64' })), /out of bounds|index 9/);
    assert.throws(() => a.view([5]), /invalid for input of size 6/);
    assert.throws(() => a.select(0, 5), /out of range/);
    // wrong dtype: float index, conv on int64 images, cross entropy with float targets
    assert.throws(() => a.indexSelect(1, tensor([0.5])), /Expected dtype int32\/int64|index_select\(\): Expected/);
    const img = zeros([1, 1, 4, 4], 'int64');
    assert.throws(() => F.conv2d(img, ones([1, 1, 3, 3])), /expected scalar type|should be the same|not implemented|same dtype/i);
    assert.throws(() => F.crossEntropy(ones([2, 3]), tensor([0, 9], { dtype: 'int64' })), /out of bounds|Target 9/);
    // a lone image or row goes through as two (batch invariance); the message still names the caller's shape
    assert.throws(() => F.conv2d(ones([1, 2, 4, 4]), ones([1, 3, 3, 3])), /expected input\[1, 2, 4, 4\] to have 3 channels/);
    assert.throws(() => F.linear(ones([1, 5]), ones([4, 3])), /\(1x5 and 3x4\)/);
    assert.throws(() => ones([2]).requiresGrad_().mul(2).backward(), /grad can be implicitly created only for scalar outputs/);
    assert.throws(() => ones([1]).sum().backward(), /does not require grad and does not have a grad_fn/);
  });
});

test('bad arguments to the generic op call are TypeErrors, not crashes', () => {
  scope(() => {
    assert.throws(() => op('no_such_op_anywhere'), /libtorch has no operator aten::no_such_op_anywhere/);
    const one = ones([1]).native;
    assert.throws(() => op('add', 'Tensor').call(-1, one), /argument 'self' must be a tensor/);
    assert.throws(() => op('add', 'Tensor').call('x', one), /argument 'self' must be a tensor/);
    const gone = ones([1]);
    const goneId = gone.native;
    gone.dispose();
    assert.throws(() => op('neg').call(goneId), /already disposed/);
    assert.throws(() => op('add', 'Tensor').call(one), /missing argument 'other'/);
    assert.throws(() => op('sum', 'dim_IntList').call(one, [0.5]), /must contain integers/);
    assert.throws(() => op('add', 'Tensor').call(one, one, 1, 2, 3, 4), /at most 3 arguments/);
    assert.throws(() => op('add', 'Tensor').call(one, one, 'x'), /argument 'alpha' must be a number/);
    assert.throws(() => zeros([2], 'complex' as never), /unknown dtype 'complex'/);
    assert.throws(() => zeros([-1]), /invalid shape/);
  });
});

test('disposed tensors and bad models give clear errors', () => {
  const t = ones([2]);
  t.dispose();
  t.dispose();
  assert.throws(() => t.add(1), /already disposed/);
  assert.throws(() => t.shape, /already disposed/);
  assert.throws(() => createModel({ arch: 'vgg99', inputShape: [3, 32, 32], numClasses: 10 }), /unknown architecture 'vgg99'/);
  assert.throws(() => createModel({ arch: 'vgg19', inputShape: [1, 28, 28], numClasses: 10 }), /at least 32x32/);
  assert.throws(() => createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 0 }), /numClasses must be a positive integer/);
  assert.throws(() => new nn.Dropout(2), /dropout probability/);
  const m = createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.25 });
  try {
    scope(() => {
      assert.throws(() => m.forward(ones([2, 3, 28, 28])), /expects images \[N, 1, 28, 28\], got \[2, 3, 28, 28\]/);
      assert.throws(() => m.loadStateDict({ 'classifier.weight': ones([10, 64]) }), /missing keys: features\.0\.weight/);
      const sd = new Map([...m.stateDict()].map(([k, v]) => [k, v.clone()]));
      sd.set('classifier.weight', ones([10, 3]));
      assert.throws(() => m.loadStateDict(sd), /classifier\.weight: model \[10, 64\], given \[10, 3\]/);
      sd.set('extra.weight', ones([1]));
      assert.throws(() => m.loadStateDict(sd), /unexpected keys: extra\.weight/);
    });
  } finally {
    m.dispose();
  }
});

test('corrupt safetensors data is rejected with a reason', () => {
  assert.throws(() => decodeSafetensors(new Uint8Array(3)), /shorter than/);
  const big = new Uint8Array(16);
  new DataView(big.buffer).setBigUint64(0, 1000n, true);
  assert.throws(() => decodeSafetensors(big), /exceeds the file size/);
  const hdr = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }));
  const buf = Buffer.concat([Buffer.alloc(8), hdr, Buffer.alloc(8)]);
  buf.writeBigUInt64LE(BigInt(hdr.length));
  assert.throws(() => decodeSafetensors(buf), /offsets/);
});
