// Keeps BENCHMARKS.md as one section per benchmark, replacing a benchmark's own section.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { writeFileAtomic } from '../../src/serialization/atomic.js';
import { blasLibrary, getNumThreads } from '../../src/tensor/runtime.js';
import { ROOT } from './sauron.js';

/**
 * The environment for a PyTorch child: the BLAS this process's libtorch multiplies in comes
 * first on its library path, and on as many threads as Sauron gives it (BLIS alone reads
 * BLIS_NUM_THREADS; PyTorch leaves it at one), so that both sides of a comparison multiply alike.
 */
export function torchEnv(): NodeJS.ProcessEnv {
  const blas = blasLibrary();
  if (!blas) return process.env;
  return {
    ...process.env,
    LD_LIBRARY_PATH: [dirname(blas), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
    BLIS_NUM_THREADS: process.env.BLIS_NUM_THREADS ?? String(getNumThreads()),
  };
}

/**
 * Runs a benchmark's PyTorch twin (`bench/TOPIC/pytorch_*.py`, under Debian's /usr/bin/python3 and
 * torchEnv, with `--threads` as this process's) and returns the JSON object its last line prints.
 */
export function pythonTwin(script: string, args: readonly string[]): Record<string, any> {
  const out = execFileSync('/usr/bin/python3', [script, '--threads', String(getNumThreads()), ...args], {
    env: torchEnv(),
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

// The addon's malloc settings when issue 15 was filed: glibc's mmap threshold at its 32 MB cap, so
// larger blocks were mapped afresh on every step. Given through the environment, they replace the
// addon's own (which then keeps its hands off).
export const FILING_MALLOC = { MALLOC_MMAP_THRESHOLD_: String(32 * 2 ** 20), MALLOC_TRIM_THRESHOLD_: String(2 ** 30) };

// SAURON_BENCHMARKS_FILE sends a trial run's section elsewhere, leaving the measured figures alone
const file = process.env.SAURON_BENCHMARKS_FILE ?? join(ROOT, 'BENCHMARKS.md');
const header = '# Benchmarks\n\nEvery figure compares Sauron with PyTorch on the same machine in the same run.\n\n';

export function updateBenchmarks(marker: string, section: string): void {
  let text = existsSync(file) ? readFileSync(file, 'utf8') : header;
  section = section.replace(/\n*$/, '\n\n'); // a blank line before the next section's heading
  const start = text.indexOf(marker);
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 1);
    text = text.slice(0, start) + section + (next >= 0 ? text.slice(next + 1) : '');
  } else {
    text = `${text.trimEnd()}\n\n${section}`;
  }
  writeFileAtomic(file, text);
}

/** One row of a Markdown table: `| a | b | c |`. */
export function tableRow(cells: readonly (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}
