// Delta benchmark: Sauron's batched closed form for 10,000 inputs x 512 features x 10 classes
// from precomputed features, next to the reference's per-neuron Python loop on the same data
// (timed on a subset and extrapolated). Writes its section of BENCHMARKS.md.
//   node --import tsx bench/delta/delta.ts [--inputs 10000] [--features 512] [--classes 10] [--rounds 5]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { delta } from '../../src/analysis/delta.js';
import { encodeNpy } from '../../src/serialization/npy.js';
import { Generator, scope } from '../../src/index.js';
import { randn, getNumThreads } from '../../src/tensor/index.js';
import { tableRow, torchEnv, updateBenchmarks } from '../shared/report.js';
import { BENCH } from '../shared/sauron.js';

const args = process.argv.slice(2);
const opt = (k: string, d: number) => (args.includes(`--${k}`) ? Number(args[args.indexOf(`--${k}`) + 1]) : d);
const n = opt('inputs', 10000);
const f = opt('features', 512);
const c = opt('classes', 10);
const rounds = opt('rounds', 5);
const refInputs = opt('reference-inputs', 20);

const g = new Generator(0);
const z = randn([n, f], { generator: g }).relu().keep();
const w = randn([c, f], { generator: g }).mul(0.05).keep();
const l = z.matmul(w.t()).keep();
const times: number[] = [];
for (let r = 0; r < rounds + 1; r++) {
  const t0 = performance.now();
  scope(() => delta(l, z, w));
  if (r > 0) times.push(performance.now() - t0); // round 0 warms up allocator and kernels
}
const best = Math.min(...times);
const median = [...times].sort((a, b) => a - b)[times.length >> 1]!;

// The same data for the reference loop, as an uncompressed-enough .npz (zip of .npy files).
const dir = mkdtempSync(join(tmpdir(), 'sauron-bench-'));
const npz = join(dir, 'data.npz');
writeFileSync(
  npz,
  zip({
    'logits.npy': Buffer.concat(encodeNpy(l.toArray<'float32'>(), [n, c], 'float32')),
    'features.npy': Buffer.concat(encodeNpy(z.toArray<'float32'>(), [n, f], 'float32')),
    'weight.npy': Buffer.concat(encodeNpy(w.toArray<'float32'>(), [c, f], 'float32')),
  }),
);
const ref = JSON.parse(
  execFileSync('/usr/bin/python3', [join(BENCH, 'delta', 'reference_delta.py'), npz, String(refInputs), String(getNumThreads())], {
    env: torchEnv(),
    encoding: 'utf8',
  }),
);
rmSync(dir, { recursive: true, force: true });

const section = [
  `## Delta: ${n} inputs x ${f} features x ${c} classes (${new Date().toISOString().slice(0, 10)})`,
  '',
  `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; ${getNumThreads()} threads. Produced by \`node --import tsx bench/delta/delta.ts\`.`,
  '',
  '| implementation | seconds | vs Sauron |',
  '|---|---:|---:|',
  `| Sauron \`delta()\` (batched closed form, best of ${rounds}; median ${(median / 1000).toFixed(2)} s) | ${(best / 1000).toFixed(2)} | 1 |`,
  tableRow([
    `reference per-neuron loop (PyTorch ${ref.torch}; ${ref.inputsTimed} inputs timed, ${ref.secondsTimed.toFixed(2)} s, extrapolated)`,
    ref.extrapolatedSeconds.toFixed(0),
    `${(ref.extrapolatedSeconds / (best / 1000)).toFixed(0)}x`,
  ]),
  '',
  'Target: under 2 s for the batched closed form on this machine.',
  '',
].join('\n');
updateBenchmarks(`## Delta: ${n} inputs x ${f} features x ${c} classes`, section);
console.log(section);

/** A minimal stored (deflate) zip archive, enough for numpy.load. */
function zip(files: Record<string, Buffer>): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, k) => {
    let v = k;
    for (let i = 0; i < 8; i++) v = v & 1 ? 0xedb88320 ^ (v >>> 1) : v >>> 1;
    return v >>> 0;
  });
  const crc32 = (b: Buffer) => {
    let v = 0xffffffff;
    for (const x of b) v = crcTable[(v ^ x) & 0xff]! ^ (v >>> 8);
    return (v ^ 0xffffffff) >>> 0;
  };
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const comp = deflateRawSync(data, { level: 1 });
    const nameB = Buffer.from(name);
    const crc = crc32(data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(8, 8);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(comp.length, 18);
    lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(nameB.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(8, 10);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(comp.length, 20);
    ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(nameB.length, 28);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, nameB, comp);
    centrals.push(ch, nameB);
    offset += lh.length + nameB.length + comp.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
