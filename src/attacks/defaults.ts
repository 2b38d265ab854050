// The attacks' defaults, as the reference code uses them (method.md): one table that the
// library, the CLI and `reproduce` all read.

export const ATTACK_DEFAULTS = {
  pgd: { iterations: 20, restarts: 1 },
  kns: { iterations: 50, lambda: 10 },
} as const;

export type FakeReluSetting = 'auto' | 'on' | 'off';

/**
 * Whether k-NS passes gradients through the final ReLU (the reference's
 * "fake ReLU") under `auto`: off for VGG and on for ResNets, as the reference does; on for
 * every other architecture (a deviation from the reference, which has none): behind a true
 * ReLU a target neuron at exactly 0 has zero gradient and its attack never leaves the clean
 * image, which on the small CNN's sparse features is most inputs' most sensitive neuron
 * (docs/results.md). TorchScript graphs are fixed, so they keep the true ReLU.
 */
export function defaultFakeRelu(arch: string): boolean {
  if (arch.startsWith('vgg')) return false;
  if (arch === 'torchscript') return false;
  return true;
}

export function resolveFakeRelu(setting: FakeReluSetting, arch: string): boolean {
  if (setting !== 'auto' && setting !== 'on' && setting !== 'off')
    throw new Error(`--fake-relu takes auto, on or off, got '${String(setting)}'`);
  return setting === 'auto' ? defaultFakeRelu(arch) : setting === 'on';
}
