// Read what Sauron wrote, as you would in your own analysis: an attack folder (`sauron attack
// ... --save-examples --out DIR`: results.json, samples.csv, clean.npy, adversarial.npy,
// indices.npy) and the model's run folder (model.safetensors, model.json, metrics.jsonl).
//
//   npx sauron attack --model runs/fm-sensitivity --attack pgd --norm l2 --eps 0.3 --limit 100 --save-examples --out runs/pgd
//   npx tsx examples/read-results.ts --attack-run runs/pgd --model runs/fm-sensitivity
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readAttackResults, readManifest, readMetrics, scope } from 'sauron';
import { loadNpy, loadSafetensors } from 'sauron/serialization';

const { values: a } = parseArgs({
  options: {
    'attack-run': { type: 'string', default: 'runs/pgd' },
    model: { type: 'string', default: 'runs/fm-sensitivity' },
  },
});
const dir = a['attack-run']!;

// results.json: the settings and the rates (fractions over the attacked inputs).
const results = readAttackResults(dir);
console.log(
  `${results.attack.attack} ${results.attack.norm} eps ${results.attack.eps} on ${results.count} inputs: ` +
    `clean accuracy ${results.cleanAccuracy}, success rate ${results.successRate}, robust accuracy ${results.robustAccuracy}`,
);

// samples.csv: one row per attacked input (per neuron attack for k-NS), plain comma-separated numbers.
const [header, ...lines] = readFileSync(join(dir, 'samples.csv'), 'utf8').trim().split('\n');
const columns = header!.split(',');
const rows = lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [columns[i]!, Number(v)])));
const fooled = rows.filter((r) => r.success === 1);
console.log(`samples.csv: ${rows.length} rows (${columns.join(', ')}); ${fooled.length} fooled the model`);

// The examples: clean.npy and adversarial.npy [rows, C, H, W] float32, indices.npy [rows] int64,
// in samples.csv's row order. The perturbations' L2 norms, recomputed, match its l2 column.
const worst = scope(() => {
  const clean = loadNpy(join(dir, 'clean.npy'));
  const adversarial = loadNpy(join(dir, 'adversarial.npy'));
  const indices = loadNpy(join(dir, 'indices.npy')).toNumbers();
  const l2 = adversarial.sub(clean).flatten(1).norm(2, 1).toNumbers(); // [rows]
  console.log(
    `adversarial.npy: [${adversarial.shape.join(', ')}], inputs ${indices.slice(0, 8).join(', ')}${indices.length > 8 ? ', ...' : ''}`,
  );
  return Math.max(...l2.map((v, i) => Math.abs(v - rows[i]!.l2!)));
});
console.log(`largest difference between the recomputed L2 norms and samples.csv's: ${worst.toExponential(2)}`);

// The model: model.safetensors holds the state dict under PyTorch's keys (load it in Python with
// safetensors.torch.load_file), model.json how to rebuild it, metrics.jsonl one line per epoch.
const manifest = readManifest(a.model!);
const { tensors } = loadSafetensors(join(a.model!, 'model.safetensors'));
let parameters = 0;
for (const t of tensors.values()) {
  parameters += t.numel();
  t.dispose();
}
console.log(`model: ${manifest.arch} width ${manifest.width}, ${tensors.size} tensors, ${parameters} numbers in model.safetensors`);
for (const m of readMetrics(a.model!)) console.log(`  epoch ${m.epoch}: test accuracy ${m.testAccuracy}, train loss ${m.loss.toFixed(4)}`);
