// The attacks' defaults, as the reference code uses them (method.md): one table that the
// library, the CLI and `reproduce` all read.

export const ATTACK_DEFAULTS = {
  pgd: { iterations: 20, restarts: 1 },
  kns: { iterations: 50, lambda: 10 },
} as const;

/**
 * Whether the n-neuron attack passes gradients through the final ReLU (the reference's
 * "fake ReLU"): on for ResNets, off for VGG, as the reference does.
 */
export function defaultFakeRelu(arch: string): boolean {
  return arch.startsWith('resnet');
}
