// Parsing and validating command-line values, with one-line errors.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { isCuda, resolveDevice, setDeterministic, type Device } from '../tensor/device.js';
import { destroyProcessGroup, initProcessGroup, isInitialized } from '../tensor/distributed.js';
import { DEVICES } from './helpGroups.js';

export function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive integer, got '${v}'`);
    return n;
  };
}

export function nonNegativeInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n))
      throw new InvalidArgumentError(`${name} must be a non-negative integer, got '${v}'`);
    return n;
  };
}

export function nonNegativeNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a non-negative number, got '${v}'`);
    return n;
  };
}

/** A positive number; fractions such as 8/255 are accepted. */
export function positiveNumber(name: string) {
  return (v: string): number => {
    const m = /^\s*([0-9.eE+-]+)\s*(?:\/\s*([0-9.eE+-]+)\s*)?$/.exec(v);
    const n = m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number, got '${v}'`);
    return n;
  };
}

/** "3x32x32" -> [3, 32, 32]. */
export function imageShape(v: string): [number, number, number] {
  const parts = v.split('x').map((p) => Number(p));
  if (parts.length !== 3 || parts.some((p) => !Number.isInteger(p) || p <= 0)) {
    throw new InvalidArgumentError(`input shape must look like CxHxW (e.g. 3x32x32), got '${v}'`);
  }
  return parts as [number, number, number];
}

export const DEVICE_HELP =
  'where to compute: auto (a CUDA GPU when this build has CUDA and one is visible, else the CPU), cpu, cuda or cuda:N';
export const PRECISION_HELP = 'fp32, or autocast the model to bf16 / fp16 (inputs, budgets and results stay fp32)';

/** --device, shared by every command that computes. */
export function deviceOption(): Option {
  return new Option('--device <device>', DEVICE_HELP).default('auto').helpGroup(DEVICES);
}

export function precisionOption(): Option {
  return new Option('--precision <p>', PRECISION_HELP).choices(['fp32', 'bf16', 'fp16']).default('fp32').helpGroup(DEVICES);
}

/** --nondeterministic: faster GPU kernels whose results vary from run to run. */
export function nondeterministicOption(): Option {
  return new Option(
    '--nondeterministic',
    'GPU: allow faster kernels whose results vary slightly between runs ' +
      '(by default CUDA runs use deterministic kernels, so a seed reproduces a result)',
  ).helpGroup(DEVICES);
}

/** The device a command computes on, with deterministic kernels unless --nondeterministic. */
export function useDevice(o: { device: string; nondeterministic?: boolean }): Device {
  // one GPU per local rank, as torchrun's scripts pick it
  const local = process.env.LOCAL_RANK;
  const perRank = isInitialized() && local !== undefined && (o.device === 'cuda' || o.device === 'auto');
  let device = resolveDevice(o.device);
  if (perRank && isCuda(device)) device = resolveDevice(`cuda:${local}`);
  if (isCuda(device)) setDeterministic(!o.nondeterministic);
  return device;
}

/** --backend and --dist-timeout, for commands that run as ranks of a process group. */
export function addProcessGroupOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--backend <name>',
        'process-group backend when launched as several ranks (WORLD_SIZE > 1): gloo ' +
          '(nccl needs a CUDA build of libtorch with NCCL, which this addon does not link yet)',
      )
        .choices(['gloo', 'nccl'])
        .default('gloo')
        .helpGroup(DEVICES),
    )
    .addOption(
      new Option(
        '--dist-timeout <seconds>',
        'how long a rank waits for the others (rendezvous, each collective) before it stops ' +
          'with an error naming the rank that stopped',
      )
        .argParser(positiveInt('--dist-timeout'))
        .default(300)
        .helpGroup(DEVICES),
    );
}

/**
 * Joins the process group when the launcher's environment says this is one of several ranks
 * (torchrun, `sauron launch`, a cluster launcher); returns how to leave it. A lone process
 * joins nothing.
 */
export function joinProcessGroup(o: { backend?: string; distTimeout?: number }): { rank: number; worldSize: number; leave: () => void } {
  const world = Number(process.env.WORLD_SIZE ?? 1);
  if (!(world > 1)) return { rank: 0, worldSize: 1, leave: () => {} };
  if (o.backend === 'nccl') throw new Error('--backend nccl: this build of the addon has no NCCL; use --backend gloo');
  const g = initProcessGroup({ timeoutMs: (o.distTimeout ?? 300) * 1000 });
  return { ...g, leave: () => destroyProcessGroup() };
}
