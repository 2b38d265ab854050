// Square's local forward (src/nn/localForward.ts) against a full forward, per query, for each
// square side of AutoAttack's Linf schedule on a model's run folder: the time of a local query
// (change + settle, one row in eight keeping its candidate) and of a full forward of the same
// rows, Sauron's and PyTorch's (the exported TorchScript model, bench/autoattack/pytorch_forward.py)
// in the same run. Also the schedule-weighted cost of one Square query, which
// autoattackFloor.ts uses to price Square's passes.
//   node --import tsx bench/autoattack/squareLocal.ts [--model runs/std] [--rows 374]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../../src/models/runFolder.js';
import { withFoldedBatchNorm } from '../../src/nn/foldBatchNorm.js';
import { LocalForward } from '../../src/nn/localForward.js';
import { pSelection, squareSide } from '../../src/attacks/squareSchedule.js';
import { SQUARE_DEFAULTS } from '../../src/attacks/square.js';
import { Generator, noGrad, rand, scope, tensor } from '../../src/tensor/index.js';
import { getNumThreads, setNumThreads } from '../../src/tensor/runtime.js';
import { pythonTwin, tableRow, updateBenchmarks } from '../shared/report.js';
import { microsecondsPerRow } from './autoattackFloor.js';
import { BENCH, sauron } from '../shared/sauron.js';

/** One square side of the schedule: how many of the 5,000 queries take it and the µs per row of each kind of pass. */
export interface SideCost {
  side: number;
  queries: number;
  full: number;
  local: number;
  /** Whether Square runs it locally (LocalForward.pays). */
  pays: boolean;
}

/** The sides of Square's Linf schedule for images [c, h, w] and the queries each takes. */
export function scheduleSides(shape: [number, number, number]): Map<number, number> {
  const sides = new Map<number, number>();
  for (let q = 0; q < SQUARE_DEFAULTS.queries; q++) {
    const s = squareSide(pSelection(q, SQUARE_DEFAULTS.pInit, SQUARE_DEFAULTS.queries, SQUARE_DEFAULTS.rescaleSchedule), shape, 'linf');
    sides.set(s, (sides.get(s) ?? 0) + 1);
  }
  return sides;
}

/**
 * µs per row of a Square query at each side of the schedule on the model of run folder `dir`
 * (eval mode, batch norm folded, `rows` rows, `threads` threads), the faster of three rounds;
 * null when the model has no local plan.
 */
export function squareQueryCosts(dir: string, rows: number, threads: number): SideCost[] | null {
  const before = getNumThreads();
  setNumThreads(threads);
  const { model } = loadModel(dir);
  model.eval();
  const shape = model.config.inputShape as [number, number, number];
  const plan = model.localPlan();
  const local = plan && LocalForward.of(plan, shape);
  if (!local) return null;
  const g = new Generator(0);
  let seed = 1;
  const uniform = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  try {
    return withFoldedBatchNorm(model, () =>
      noGrad(() =>
        scope(() => {
          const x = rand([rows, ...shape], { generator: g });
          scope(() => local.start(x));
          const keep = tensor(
            Uint8Array.from({ length: rows }, (_, r) => (r % 8 === 0 ? 1 : 0)),
            { shape: [rows] },
          ).to('bool');
          const time = (pass: () => void) => microsecondsPerRow(pass, rows, { rounds: 3, rowPasses: 8_000, minReps: 5 });
          const full = time(() => model.forward(x).logits.sum().toNumbers());
          return [...scheduleSides(shape)].map(([side, queries]) => {
            const corner = (high: number) => Int32Array.from({ length: rows }, () => Math.floor(uniform() * (high + 1)));
            const ys = corner(shape[1] - side);
            const xs = corner(shape[2] - side);
            const patch = rand([rows, shape[0], side, side], { generator: g });
            const cost = time(() => {
              local.change(ys, xs, patch).sum().toNumbers();
              local.settle(keep);
            });
            return { side, queries, full, local: cost, pays: local.pays(side) };
          });
        }),
      ),
    );
  } finally {
    local.dispose();
    model.dispose();
    setNumThreads(before);
  }
}

/** µs per row of one Square query averaged over the schedule, each side run as Square runs it. */
export function meanQueryCost(sides: SideCost[]): number {
  const queries = sides.reduce((n, s) => n + s.queries, 0);
  return sides.reduce((t, s) => t + s.queries * (s.pays ? s.local : s.full), 0) / queries;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values: a } = parseArgs({
    options: { model: { type: 'string', default: 'runs/std' }, rows: { type: 'string', default: '374' } },
  });
  const rows = Number(a.rows);
  const threads = getNumThreads();
  const sides = squareQueryCosts(a.model!, rows, threads);
  const shape = loadModel(a.model!).model.config.inputShape;
  if (!sides) throw new Error(`${a.model}: the model has no local plan (small-cnn and VGG have one)`);
  const tmp = mkdtempSync(join(tmpdir(), 'sauron-square-local-'));
  const exported = join(tmp, 'model.pt');
  sauron(['export', '--model', a.model!, '--out', exported]);
  const torch = pythonTwin(join(BENCH, 'autoattack', 'pytorch_forward.py'), [
    '--model',
    exported,
    '--rows',
    String(rows),
    '--shape',
    shape.join(','),
  ]) as { forward_us: number; torch: string };
  rmSync(tmp, { recursive: true, force: true });
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), load ${loadavg()[0]!.toFixed(2)}`;
  const lines = sides.map((s) =>
    tableRow([
      s.side,
      s.queries,
      s.full.toFixed(1),
      s.local.toFixed(1),
      (s.full / s.local).toFixed(2),
      torch.forward_us.toFixed(1),
      s.pays ? 'local' : 'full',
    ]),
  );
  const mean = meanQueryCost(sides);
  const section = `## Square's local forward against a full forward (${new Date().toISOString().slice(0, 10)})

The model of \`${a.model}\` (eval mode, batch norm folded), ${rows} rows, ${threads} threads, ${machine}, fp32.
Per square side of AutoAttack's Linf schedule (5,000 queries, p_init 0.8): microseconds per row of a full forward and of a
local query (the logits of each row's changed square, then one row in eight keeping it), the best of three rounds, and PyTorch
${torch.torch}'s forward of the same model exported with \`sauron export\`, in the same run. Produced by \`node --import tsx
bench/autoattack/squareLocal.ts --model DIR\`.

| side | queries | full forward | local query | speed-up | PyTorch forward | Square runs it |
|---:|---:|---:|---:|---:|---:|---|
${lines.join('\n')}

One query averaged over the schedule, each side as Square runs it: ${mean.toFixed(1)} µs per row, against ${sides[0]!.full.toFixed(1)} for
full forwards only (${(sides[0]!.full / mean).toFixed(2)}x).`;
  console.log(section);
  updateBenchmarks("## Square's local forward", section);
}
