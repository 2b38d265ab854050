// Keeps BENCHMARKS.md as one section per benchmark, replacing a benchmark's own section.
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/serialization/atomic.js';

const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'BENCHMARKS.md');
const header = '# Benchmarks\n\nEvery figure compares Sauron with PyTorch on the same machine in the same run.\n\n';

export function updateBenchmarks(marker: string, section: string): void {
  let text = existsSync(file) ? readFileSync(file, 'utf8') : header;
  const start = text.indexOf(marker);
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 1);
    text = text.slice(0, start) + section + (next >= 0 ? text.slice(next + 1) : '');
  } else {
    text = text.trimEnd() + '\n\n' + section;
  }
  writeFileAtomic(file, text);
}
