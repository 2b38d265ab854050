// The paper's PGD protocol (100 iterations, 20 restarts) on the first test inputs of a trained
// Fashion-MNIST model: Sauron with early stopping (the default), Sauron's full protocol, and the
// naive PyTorch loop (bench/pytorch_pgd_protocol.py: every input, iteration and restart), same
// machine, same run. Success rates must agree: Sauron's two exactly, PyTorch's within the
// noise of its own random starts.
//   node --import tsx bench/pgdProtocol.ts [--model runs/fm-standard] [--limit 200]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadModel, scope, getNumThreads } from '../src/index.js';
import { pgdAttack, type PgdConfig } from '../src/attacks/pgd.js';
import { loadFashionMnist } from '../src/data/fashionMnist.js';
import { BUDGETS } from '../src/reproduce/settings.js';
import { saveNpy } from '../src/serialization/npy.js';
import { torchEnv, updateBenchmarks } from './report.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: a } = parseArgs({ options: { model: { type: 'string', default: join(root, 'runs', 'fm-standard') },
  limit: { type: 'string', default: '200' }, iterations: { type: 'string', default: '100' }, restarts: { type: 'string', default: '20' },
  batch: { type: 'string', default: '128' } } });
if (!existsSync(join(a.model!, 'model.json'))) throw new Error(`${a.model} is not a trained run: train it with \`sauron train --out ${a.model}\``);
const limit = Number(a.limit);
const iterations = Number(a.iterations);
const restarts = Number(a.restarts);
const batchSize = Number(a.batch);
const { model } = loadModel(a.model!);
const ds = loadFashionMnist('test');
const tmp = mkdtempSync(join(tmpdir(), 'sauron-pgd-protocol-'));

function sauron(cfg: PgdConfig): { seconds: number; success: boolean[] } {
  const success: boolean[] = [];
  const t0 = performance.now();
  for (let s = 0; s < limit; s += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, limit - s) }, (_, i) => s + i);
    scope(() => {
      const b = ds.loadSync(idx);
      for (const r of pgdAttack(model, b, cfg).records) success.push(r.success);
    });
  }
  return { seconds: (performance.now() - t0) / 1000, success };
}

const rows: string[] = [];
let torchVersion = '';
try {
  scope(() => saveNpy(join(tmp, 'x.npy'), ds.loadSync(Array.from({ length: limit }, (_, i) => i)).images));
  for (const norm of ['l2', 'linf'] as const) {
    const eps = BUDGETS['fashion-mnist']![norm];
    const cfg: PgdConfig = { norm, eps, iterations, restarts, randomStart: true, seed: 0 };
    const early = sauron(cfg);
    const full = sauron({ ...cfg, earlyStop: false });
    if (early.success.some((v, i) => v !== full.success[i])) throw new Error(`${norm}: early-stopped and full protocol disagree`);
    const py = JSON.parse(execFileSync('/usr/bin/python3', [join(root, 'bench', 'pytorch_pgd_protocol.py'), '--run', a.model!,
      '--x', join(tmp, 'x.npy'), '--norm', norm, '--eps', String(eps), '--iterations', String(iterations), '--restarts', String(restarts),
      '--batch', String(batchSize), '--threads', String(getNumThreads())], { env: torchEnv(), encoding: 'utf8' }).trim().split('\n').pop()!);
    torchVersion = py.torch;
    const rate = (s: boolean[]) => (100 * s.filter(Boolean).length) / s.length;
    rows.push(`| ${norm === 'l2' ? 'L2' : 'Linf'} ${eps} | ${py.seconds.toFixed(1)} | ${full.seconds.toFixed(1)} | ${early.seconds.toFixed(1)} | ` +
      `${(py.seconds / early.seconds).toFixed(2)}x | ${rate(early.success).toFixed(1)} / ${rate(full.success).toFixed(1)} | ${(100 * py.successRate).toFixed(1)} |`);
    console.log(rows[rows.length - 1]);
  }
} finally {
  model.dispose();
  rmSync(tmp, { recursive: true, force: true });
}

const section = `## Attack: the paper's PGD protocol with early stopping (${new Date().toISOString().slice(0, 10)})

PGD with ${iterations} iterations and ${restarts} restarts, random start, on the first ${limit} Fashion-MNIST test inputs of
\`${a.model!.replace(root + '/', '')}\` (the default small CNN), batch ${batchSize}, ${getNumThreads()} threads, ${cpus().length} cores,
load average ${loadavg()[0]!.toFixed(1)} at the end. Seconds for the whole protocol. PyTorch: the naive loop of torchattacks and
the robustness library (\`bench/pytorch_pgd_protocol.py\`, PyTorch ${torchVersion}); Sauron full: \`earlyStop: false\`; Sauron:
the default, rows leave the batch once they fool the model and a restart runs only for inputs every earlier restart
missed. Success: the percent of inputs fooled (Sauron early / full must be equal; PyTorch draws its own random starts).
Produced by \`node --import tsx bench/pgdProtocol.ts\`.

| budget | PyTorch naive (s) | Sauron full (s) | Sauron (s) | PyTorch / Sauron | success, Sauron early / full | success, PyTorch |
|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

An input no restart fools runs every iteration of every restart under any protocol, so the speed-up is bounded by
the share of inputs that are fooled, and by how early.
`;
updateBenchmarks('## Attack: the paper\'s PGD protocol with early stopping', section);
console.log(section);
