// Where the benchmarks find the repository and its CLI, and the one way they run `sauron`.
// In the GPU check the compiled tree .gpu/js stands for the repository (bin/, data/ and fixtures/
// linked into it, the Python twins copied beside the compiled scripts).
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench/shared/ is two levels below it). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** bench/: each topic's scripts and PyTorch twins are in bench/TOPIC/. */
export const BENCH = join(ROOT, 'bench');

/** bin/sauron.js (it runs dist/ when built); the compiled CLI where bin/ is not linked (.gpu/js). */
export const SAURON_CLI = existsSync(join(ROOT, 'bin', 'sauron.js')) ? join(ROOT, 'bin', 'sauron.js') : join(ROOT, 'src', 'cli', 'main.js');

/**
 * Runs `sauron ARGS` in a child Node process and returns its stdout ('' when stdout is not piped).
 * Options as execFileSync's: stderr shows on this terminal unless `stdio` says otherwise, and a
 * failed run throws with the child's stderr in the message.
 */
export function sauron(args: readonly string[], options: Omit<ExecFileSyncOptions, 'encoding'> = {}): string {
  return (execFileSync(process.execPath, [SAURON_CLI, ...args], { ...options, encoding: 'utf8' }) as string | null) ?? '';
}
