// The paper's PGD protocol (100 iterations, 20 restarts) on the first test inputs of a trained
// Fashion-MNIST model, and on a CIFAR-shaped VGG-19 (seeded weights, batch-norm statistics from
// synthetic images, synthetic inputs): Sauron with early stopping (the default), Sauron's full
// protocol, and the naive PyTorch loop (bench/attacks/pytorch_pgd_protocol.py: every input, iteration
// and restart), same machine, same BLAS, same run. Success rates must agree: Sauron's two
// exactly, PyTorch's within the noise of its own random starts.
//   node --import tsx bench/attacks/pgdProtocol.ts [--model runs/fm-standard] [--limit 1000] [--rounds 2] [--vgg 16] [--vgg-scale 1,0.02] [--vgg-rounds 1]
// On a GPU (scripts/gpu-check.sh): --device cuda --python python3; both engines then run there, Sauron with the
// deterministic kernels its commands use on CUDA by default, and the section goes under its own heading.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Generator, loadModel, scope, resolveDevice, type ImageClassifier, type Tensor } from '../../src/index.js';
import { rand, getNumThreads, isCuda, setDefaultDevice, setDeterministic } from '../../src/tensor/index.js';
import type { PgdConfig } from '../../src/attacks/pgd.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { BUDGETS } from '../../src/reproduce/settings.js';
import { saveNpy } from '../../src/serialization/npy.js';
import { saveModel } from '../../src/models/runFolder.js';
import { tableRow, torchEnv, updateBenchmarks } from '../shared/report.js';
import { calibratedVgg } from '../shared/calibratedVgg.js';
import { pgdInBatches } from './pgdInBatches.js';
import { ROOT, BENCH } from '../shared/sauron.js';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: join(ROOT, 'runs', 'fm-standard') },
    limit: { type: 'string', default: '1000' },
    iterations: { type: 'string', default: '100' },
    restarts: { type: 'string', default: '20' },
    batch: { type: 'string', default: '128' },
    vgg: { type: 'string', default: '16' },
    'vgg-scale': { type: 'string', default: '0.02' },
    only: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    'vgg-rounds': { type: 'string', default: '1' },
    device: { type: 'string', default: 'cpu' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
if (!existsSync(join(a.model!, 'model.json')))
  throw new Error(`${a.model} is not a trained run: train it with \`sauron train --out ${a.model}\``);
const iterations = Number(a.iterations);
const restarts = Number(a.restarts);
const tmp = mkdtempSync(join(tmpdir(), 'sauron-pgd-protocol-'));
const device = resolveDevice(a.device);
const gpu = isCuda(device);
setDefaultDevice(device);
// as `sauron attack` on CUDA: deterministic kernels unless asked otherwise
if (gpu) setDeterministic(true);

const rate = (s: boolean[]) => (100 * s.filter(Boolean).length) / s.length;

const median = (v: number[]) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const list = (v: number[], f: (x: number) => string) => v.map(f).join(', ');

// Rounds pair PyTorch with Sauron back to back, in alternating order (ABBA), so that the VM's drift
// between minutes (about 10% here) falls on both sides of each ratio rather than on one.
function protocol(
  name: string,
  model: ImageClassifier,
  runDir: string,
  images: Tensor,
  batchSize: number,
  budgets: { l2: number; linf: number },
  rounds: number,
): string[] {
  const out: string[] = [];
  const x = join(tmp, `${name.replace(/\W+/g, '-')}.npy`);
  saveNpy(x, images);
  for (const norm of ['l2', 'linf'] as const) {
    const eps = budgets[norm];
    const cfg: PgdConfig = { norm, eps, iterations, restarts, randomStart: true, seed: 0 };
    const full = pgdInBatches(model, images, batchSize, { ...cfg, earlyStop: false });
    const runPy = () =>
      JSON.parse(
        execFileSync(
          a.python!,
          [
            join(BENCH, 'attacks', 'pytorch_pgd_protocol.py'),
            '--run',
            runDir,
            '--x',
            x,
            '--norm',
            norm,
            '--eps',
            String(eps),
            '--iterations',
            String(iterations),
            '--restarts',
            String(restarts),
            '--batch',
            String(batchSize),
            '--threads',
            String(getNumThreads()),
            '--device',
            device,
          ],
          { env: torchEnv(), encoding: 'utf8' },
        )
          .trim()
          .split('\n')
          .pop()!,
      ) as { seconds: number; successRate: number; torch: string; device: string };
    const pyS: number[] = [];
    const earlyS: number[] = [];
    let pyRate = 0;
    let earlyRate = 0;
    let disagreements = 0;
    for (let r = 0; r < rounds; r++) {
      const pair = r % 2 === 0 ? ['sauron', 'py'] : ['py', 'sauron'];
      for (const who of pair) {
        if (who === 'py') {
          const py = runPy();
          torchVersion = py.torch;
          deviceName = py.device;
          pyS.push(py.seconds);
          pyRate = py.successRate;
        } else {
          const early = pgdInBatches(model, images, batchSize, { ...cfg, earlyStop: true }); // the CPU's default, asked for on any device
          const differ = early.success.filter((v, i) => v !== full.success[i]).length;
          // on the CPU rows are batch-independent bit for bit; on a GPU the arithmetic (TF32, kernels
          // chosen by batch size) is not, so there disagreements are counted, not fatal (BENCHMARKS.md)
          if (differ > 0 && !gpu) throw new Error(`${name} ${norm}: early-stopped and full protocol disagree`);
          disagreements += differ;
          earlyS.push(early.seconds);
          earlyRate = rate(early.success);
        }
      }
    }
    const ratios = pyS.map((p, i) => p / earlyS[i]!);
    // an input no restart fools needs every row-step under any protocol with the same answers
    const bound = pyS.reduce((x, y) => x + y, 0) / pyS.length / full.seconds / (1 - rate(full.success) / 100);
    out.push(
      tableRow([
        name,
        `${norm === 'l2' ? 'L2' : 'Linf'} ${+eps.toFixed(4)}`,
        list(pyS, (v) => v.toFixed(1)),
        full.seconds.toFixed(1),
        list(earlyS, (v) => v.toFixed(1)),
        list(ratios, (v) => `${v.toFixed(2)}x`),
        `**${median(ratios).toFixed(2)}x**`,
        Number.isFinite(bound) ? `${bound.toFixed(2)}x` : 'none (all fooled)',
        `${earlyRate.toFixed(1)} / ${rate(full.success).toFixed(1)}${disagreements ? ` (${disagreements} inputs differ)` : ''}`,
        (100 * pyRate).toFixed(1),
      ]),
    );
    console.log(out[out.length - 1]);
  }
  return out;
}

let torchVersion = '';
let deviceName = '';
const rows: string[] = [];
const limit = Number(a.limit);
const vggInputs = Number(a.vgg);
try {
  if (a.only !== 'vgg') {
    // eval mode before anything runs it: a training-mode forward would move batch norm's statistics
    const model = loadModel(a.model!).model.eval();
    scope(() => {
      const images = loadFashionMnist('test')
        .loadSync(Array.from({ length: limit }, (_, i) => i))
        .images.to(device);
      rows.push(
        ...protocol(
          `Fashion-MNIST default model, first ${limit} test inputs`,
          model,
          a.model!,
          images,
          Number(a.batch),
          BUDGETS['fashion-mnist']!,
          Number(a.rounds),
        ),
      );
    });
    model.dispose();
  }
  if (vggInputs > 0 && a.only !== 'fm') {
    const vgg = calibratedVgg();
    const dir = join(tmp, 'vgg19');
    saveModel(dir, vgg);
    scope(() => {
      const images = rand([vggInputs, 3, 32, 32], { generator: new Generator(2) }).to(device);
      // at CIFAR-10's own budgets (scale 1) every input of the seeded network is fooled at its
      // random start, which only shows the early stop's best case: scaled down, some inputs resist
      for (const scale of a['vgg-scale']!.split(',').map(Number)) {
        const budgets = { l2: BUDGETS.cifar10!.l2 * scale, linf: BUDGETS.cifar10!.linf * scale };
        rows.push(
          ...protocol(
            `VGG-19 3x32x32 (seeded weights, calibrated batch norm), ${vggInputs} synthetic inputs, CIFAR-10's budgets${scale === 1 ? '' : ` x ${scale}`}`,
            vgg,
            dir,
            images,
            vggInputs,
            budgets,
            Number(a['vgg-rounds']),
          ),
        );
      }
    });
    vgg.dispose();
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const heading = gpu ? `## GPU: the paper's PGD protocol with early stopping` : `## Attack: the paper's PGD protocol with early stopping`;
const where = gpu
  ? `One ${deviceName}, both engines on it; Sauron with deterministic kernels (its default on CUDA), PyTorch at its defaults;
the host's ${cpus().length} cores. Seconds`
  : `${getNumThreads()} threads, ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)} at the end. Seconds`;
const modelName = a.model!.replace(`${ROOT}/`, '');
const vggBudgets = `L2 ${BUDGETS.cifar10!.l2}, Linf ${+BUDGETS.cifar10!.linf.toFixed(4)}`;
const pytorchSide = `PyTorch ${torchVersion}${gpu ? '' : ', the same BLAS on as many threads'}`;
const head = [
  'model and inputs',
  'budget',
  'PyTorch naive (s)',
  'Sauron full (s)',
  'Sauron (s)',
  'PyTorch / Sauron, per round',
  'median',
  'bound',
  'success, Sauron early / full',
  'success, PyTorch',
];
const section = `${heading} (${new Date().toISOString().slice(0, 10)})

PGD with ${iterations} iterations and ${restarts} restarts, random start, attacking the clean prediction; Fashion-MNIST:
\`${modelName}\` (the default small CNN), batch ${a.batch}, its budgets; VGG-19: CIFAR-10's budgets (${vggBudgets}) times ${a['vgg-scale']}, one batch
(at CIFAR-10's own budgets every input of the seeded network is fooled at its random start, so early stopping ends at once${
  gpu || a['vgg-scale']!.split(',').map(Number).includes(1)
    ? ''
    : `:
Sauron 155x (L2) and 339x (Linf) faster than PyTorch in one run of \`--vgg-scale 1\` on 2026-11-27`
};
scaled down, some inputs resist every restart).
${where} for the whole protocol, one figure per round: each round runs
PyTorch and Sauron back to back, in alternating order (Sauron first in the first round), so that the machine's drift
between minutes (about 10% on this VM) falls on both sides of a round's ratio; Fashion-MNIST ${a.rounds} rounds, VGG-19 ${a['vgg-rounds']}.
PyTorch: the naive loop of torchattacks and the robustness library (\`bench/attacks/pytorch_pgd_protocol.py\`, ${pytorchSide});
Sauron full: \`earlyStop: false\`; Sauron: \`earlyStop: true\` (the CPU's default), rows leave the batch once they fool the model, and the
later restarts run, side by side, only for inputs whose first restart missed. Both Sauron columns iterate with batch norm folded into the
convolutions (the default). Success: the percent of inputs fooled (Sauron early / full must be equal; PyTorch draws its own
random starts). Produced by \`node --import tsx bench/attacks/pgdProtocol.ts\`.

${tableRow(head)}
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

An input no restart fools runs every iteration of every restart under any protocol, so the speed-up is bounded by
the share of inputs that are fooled, and by how early. "Bound": the most any protocol with the same answers could
reach at Sauron full's cost per row-step (one input, one iteration): PyTorch's mean time / Sauron full's time / the share
of inputs no restart fools. Beyond it only a cheaper step helps.
`;
updateBenchmarks(heading, section);
console.log(section);
