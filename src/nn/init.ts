// PyTorch's default initialisations, drawn from an explicit generator for determinism.
import { noGrad } from '../tensor/autograd.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

/** fan_in and fan_out as torch.nn.init._calculate_fan_in_and_fan_out. */
export function fans(shape: number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new Error('fan in/out need a tensor with at least 2 dimensions');
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

/** Fills `t` in place with draws from U(low, high), without recording gradients; returns t. */
export function uniform_(t: Tensor, low: number, high: number, generator?: Generator): Tensor {
  return noGrad(() => t.uniform_(low, high, generator));
}

/** Fills `t` in place with draws from N(mean, std^2), without recording gradients; returns t. */
export function normal_(t: Tensor, mean: number, std: number, generator?: Generator): Tensor {
  return noGrad(() => t.normal_(mean, std, generator));
}

function gain(nonlinearity: 'relu' | 'leaky_relu' | 'linear', a: number): number {
  if (nonlinearity === 'relu') return Math.SQRT2;
  if (nonlinearity === 'leaky_relu') return Math.sqrt(2 / (1 + a * a));
  return 1;
}

/** kaiming_uniform_ with mode fan_in (PyTorch's default for Conv and Linear uses a = sqrt(5)). */
export function kaimingUniform_(
  t: Tensor,
  {
    a = 0,
    mode = 'fan_in' as 'fan_in' | 'fan_out',
    nonlinearity = 'leaky_relu' as 'relu' | 'leaky_relu' | 'linear',
    generator = undefined as Generator | undefined,
  } = {},
): Tensor {
  const f = fans(t.shape);
  const fan = mode === 'fan_in' ? f.fanIn : f.fanOut;
  const bound = (Math.sqrt(3) * gain(nonlinearity, a)) / Math.sqrt(fan);
  return uniform_(t, -bound, bound, generator);
}

/** kaiming_normal_ as torch.nn.init: N(0, gain^2 / fan), fan_in by default, gain for ReLU. */
export function kaimingNormal_(
  t: Tensor,
  {
    a = 0,
    mode = 'fan_in' as 'fan_in' | 'fan_out',
    nonlinearity = 'relu' as 'relu' | 'leaky_relu' | 'linear',
    generator = undefined as Generator | undefined,
  } = {},
): Tensor {
  const f = fans(t.shape);
  const fan = mode === 'fan_in' ? f.fanIn : f.fanOut;
  return normal_(t, 0, gain(nonlinearity, a) / Math.sqrt(fan), generator);
}

/** Sets `t` to 0 in place, without recording gradients; returns t. */
export function zeros_(t: Tensor): Tensor {
  return noGrad(() => t.zero_());
}

/** Sets every element of `t` to value in place, without recording gradients; returns t. */
export function constant_(t: Tensor, value: number): Tensor {
  return noGrad(() => t.fill_(value));
}
