// Which BLAS Debian's libtorch should multiply in: the attack step of the default small CNN
// (its fully connected layers are matrix products) and whether a row's result depends on its
// batch, in Sauron and PyTorch, for each BLAS installed here. LD_LIBRARY_PATH picks the library
// (it outranks the addon's RUNPATH to BLIS). Same machine, same run.
//   node --import tsx bench/blas/blas.ts
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { tableRow, updateBenchmarks } from '../shared/report.js';
import { BENCH } from '../shared/sauron.js';

const lib = '/usr/lib/x86_64-linux-gnu';
const LIBS = [
  { name: "reference BLAS (Debian's default)", dir: `${lib}/blas` },
  { name: 'BLIS 0.9 (libblis4-openmp, linked by the addon)', dir: `${lib}/blis-openmp` },
  { name: 'OpenBLAS (libopenblas0-openmp)', dir: `${lib}/openblas-openmp` },
].filter((l) => existsSync(join(l.dir, 'libblas.so.3')));

const rows: string[] = [];
let torchVersion = '';
for (const l of LIBS) {
  const env = { ...process.env, LD_LIBRARY_PATH: l.dir };
  const s = JSON.parse(
    execFileSync(process.execPath, ['--import', 'tsx', join(BENCH, 'blas', 'blasStep.ts')], { env, encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop()!,
  );
  if (!String(s.library).startsWith(l.dir)) throw new Error(`asked for ${l.dir}, the child loaded ${s.library}`);
  const py = JSON.parse(
    execFileSync(
      '/usr/bin/python3',
      [
        join(BENCH, 'batchNorm', 'pytorch_fold_batch_norm.py'),
        '--arch',
        'small-cnn',
        '--input',
        '1x28x28',
        '--width',
        '0.5',
        '--batch',
        '128',
        '--threads',
        String(s.threads),
      ],
      { env, encoding: 'utf8' },
    )
      .trim()
      .split('\n')
      .pop()!,
  );
  torchVersion = py.torch;
  rows.push(
    tableRow([
      l.name,
      s.batchNorm.toFixed(1),
      s.folded.toFixed(1),
      py.batch_norm.toFixed(1),
      py.folded.toFixed(1),
      s.invariant ? 'yes' : 'no',
    ]),
  );
  console.log(rows[rows.length - 1]);
}

const produced = 'Produced by `node --import tsx bench/blas/blas.ts`.';
const section = `## BLAS for Debian's libtorch (${new Date().toISOString().slice(0, 10)})

Milliseconds per attack step (forward, cross-entropy, backward to the input) of the default Fashion-MNIST model
(small-cnn, width 0.5, batch 128, eval mode), batch norm as a layer and folded into the convolutions, best of 3 rounds
of 10 steps, ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)} at the end; PyTorch ${torchVersion} in the same run with the same
library. "Batch-independent": in Sauron (whose \`linear\` sends a lone row through as two), the fully connected layer's rows
(1,568 to 128) computed alone, in batches of 7 and 66 and with 1 thread equal the whole 130-row batch's bit for bit. ${produced}

| BLAS | Sauron, batch norm | Sauron, folded | PyTorch, batch norm | PyTorch, folded | batch-independent |
|---|---:|---:|---:|---:|---|
${rows.join('\n')}
`;
updateBenchmarks("## BLAS for Debian's libtorch", section);
console.log(section);
