// FAB's Linf projection: the addon's (native/fabProjection.cc, one pass per row) against the same
// arithmetic op by op (projectionLinfOps) and fra31/auto-attack's projection_linf under PyTorch
// (bench/autoattack/pytorch_fab_projection.py), in the same run, on problems shaped like FAB-T's
// on the default model: 2 x 374 rows (each iterate and its clean input) of 784 pixels, points with
// many pixels at 0 or 1, hyperplanes near and far.
//   node --import tsx bench/autoattack/fabProjection.ts --autoattack-dir ../auto-attack
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { projectionLinf, projectionLinfOps } from '../../src/attacks/fabProjections.js';
import { saveNpy } from '../../src/serialization/npy.js';
import { Generator, rand, randn, scope, where } from '../../src/tensor/index.js';
import { getNumThreads } from '../../src/tensor/runtime.js';
import { pythonTwin, tableRow, updateBenchmarks } from '../shared/report.js';
import { BENCH } from '../shared/sauron.js';

const a = parseArgs({ options: { 'autoattack-dir': { type: 'string', default: process.env.AUTOATTACK_DIR } } }).values;
const refDir = a['autoattack-dir'];
if (!refDir) throw new Error('give a checkout of fra31/auto-attack with --autoattack-dir DIR or AUTOATTACK_DIR');
const [rows, dim, rounds, calls] = [748, 784, 5, 10];

const dir = mkdtempSync(join(tmpdir(), 'sauron-fab-projection-'));
try {
  const result = scope(() => {
    const g = new Generator(0);
    const u = rand([rows, dim], { generator: g });
    const t = where(u.lt(0.5), 0, where(u.gt(0.9), 1, rand([rows, dim], { generator: g }))).keep();
    const w = randn([rows, dim], { generator: g }).keep();
    const b = w
      .mul(t)
      .sum(1)
      .add(randn([rows], { generator: g }).mul(w.abs().sum(1)).mul(0.05))
      .keep();
    const best = (fn: () => void): number => {
      let ms = Infinity;
      for (let r = 0; r < rounds; r++) {
        fn();
        const t0 = performance.now();
        for (let c = 0; c < calls; c++) scope(fn);
        ms = Math.min(ms, (performance.now() - t0) / calls);
      }
      return ms;
    };
    const native = best(() => projectionLinf(t, w, b));
    const ops = best(() => projectionLinfOps(t, w, b));
    const d = projectionLinf(t, w, b);
    const same = Boolean(
      d
        .eq(projectionLinfOps(t, w, b))
        .all()
        .item(),
    );
    for (const [k, v] of Object.entries({ t, w, b, d })) saveNpy(join(dir, `${k}.npy`), v);
    return { native, ops, same };
  });
  const py = pythonTwin(join(BENCH, 'autoattack', 'pytorch_fab_projection.py'), ['--autoattack-dir', refDir, '--problems', dir]);
  const times = [result.native, result.ops, py.ms].map((v) => v.toFixed(2));
  const row = tableRow([...times, `${(result.ops / result.native).toFixed(2)}x`, `${(py.ms / result.native).toFixed(2)}x`]);
  const agreement =
    py.maxDiff === 0
      ? "it equals the reference's too"
      : `it differs from the reference's by at most ${py.maxDiff.toExponential(1)} (the reference's sort is not stable, ` +
        'which reorders equal keys and so the rounding of the cumulative sums over them)';
  const section = `## FAB's Linf projection (${new Date().toISOString().slice(0, 10)})

Milliseconds per call on ${rows} rows of ${dim} pixels (FAB-T's problems on the default model: each iterate and its clean
input), best of ${rounds} rounds of ${calls} calls, ${getNumThreads()} threads, ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)} at the end;
PyTorch ${py.torch} in the same run. "Sauron": the addon's projection (\`native/fabProjection.cc\`, one pass per row);
"op by op": the same arithmetic as libtorch tensor ops (\`projectionLinfOps\`, what runs off the CPU); "reference":
fra31/auto-attack's \`projection_linf\`. Produced by
\`node --import tsx bench/autoattack/fabProjection.ts --autoattack-dir DIR\`.

| Sauron | op by op | reference | speed-up over op by op | over the reference |
|---:|---:|---:|---:|---:|
${row}

The addon's answer equals the op-by-op one ${result.same ? 'exactly' : '**not** exactly'}; ${agreement}.
`;
  updateBenchmarks("## FAB's Linf projection", section);
  console.log(section);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
