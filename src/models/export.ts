// Exporting a zoo model to TorchScript for use in Python: the model's computation written as
// TorchScript source over its own parameters (flattened names: features.0.weight becomes
// features_0_weight), returning (logits, features) like the zoo's forward.
import { emptyScriptModule } from '../tensor/script.js';
import type { ImageClassifier } from './classifier.js';
import { VGG } from './vgg.js';
import { ResNet } from './resnet.js';
import { SmallCNN } from './smallcnn.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, type Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { tensor } from '../tensor/creation.js';
import { scope } from '../tensor/scope.js';

const flat = (k: string) => k.replace(/\./g, '_');
const pair = (v: number | [number, number]) => (typeof v === 'number' ? `[${v}, ${v}]` : `[${v[0]}, ${v[1]}]`);
const num = (x: number) => (Number.isInteger(x) ? `${x}.0` : String(x));

class Writer {
  lines: string[] = [];
  #n = 0;
  fresh(): string {
    return `h${this.#n++}`;
  }
  emit(line: string): void {
    this.lines.push(`    ${line}`);
  }
}

function conv(w: Writer, p: string, m: Conv2d, x: string): string {
  const y = w.fresh();
  const o = m.opts;
  w.emit(
    `${y} = torch.conv2d(${x}, self.${flat(p)}_weight, ${m.bias ? `self.${flat(p)}_bias` : 'None'}, ` +
      `${pair(o.stride ?? 1)}, ${pair(o.padding ?? 0)}, ${pair(o.dilation ?? 1)}, ${o.groups ?? 1})`,
  );
  return y;
}

function bn(w: Writer, p: string, m: BatchNorm2d, x: string): string {
  const y = w.fresh();
  const q = `self.${flat(p)}`;
  w.emit(
    `${y} = torch.batch_norm(${x}, ${q}_weight, ${q}_bias, ${q}_running_mean, ${q}_running_var, ` +
      `False, ${num(m.opts.momentum ?? 0.1)}, ${num(m.opts.eps ?? 1e-5)}, True)`,
  );
  return y;
}

function linear(w: Writer, p: string, m: Linear, x: string): string {
  const y = w.fresh();
  w.emit(
    m.bias
      ? `${y} = torch.addmm(self.${flat(p)}_bias, ${x}, self.${flat(p)}_weight.t())`
      : `${y} = torch.matmul(${x}, self.${flat(p)}_weight.t())`,
  );
  return y;
}

function layer(w: Writer, p: string, m: Module, x: string): string {
  if (m instanceof Conv2d) return conv(w, p, m, x);
  if (m instanceof BatchNorm2d) return bn(w, p, m, x);
  if (m instanceof Linear) return linear(w, p, m, x);
  const y = w.fresh();
  if (m instanceof ReLU) w.emit(`${y} = torch.relu(${x})`);
  else if (m instanceof MaxPool2d)
    w.emit(`${y} = torch.max_pool2d(${x}, ${pair(m.kernelSize)}, ${pair(m.stride ?? m.kernelSize)}, ${pair(m.padding)}, [1, 1], False)`);
  else if (m instanceof AvgPool2d)
    w.emit(
      `${y} = torch.avg_pool2d(${x}, ${pair(m.kernelSize)}, ${pair(m.stride ?? m.kernelSize)}, ${pair(m.padding)}, False, True, None)`,
    );
  else if (m instanceof Flatten) w.emit(`${y} = torch.flatten(${x}, ${m.startDim}, ${m.endDim})`);
  else throw new Error(`export: no TorchScript form for ${m.constructor.name}`);
  return y;
}

function sequential(w: Writer, p: string, s: Sequential, x: string): string {
  let cur = x;
  s.layers.forEach((m, i) => {
    cur = layer(w, `${p}.${i}`, m, cur);
  });
  return cur;
}

function block(w: Writer, p: string, b: Module, x: string): string {
  const kids = new Map(b.namedChildren());
  const get = <T>(n: string) => kids.get(n) as T;
  let h = x;
  const convs = ['conv1', 'conv2', 'conv3'].filter((n) => kids.has(n));
  convs.forEach((c, i) => {
    h = bn(w, `${p}.bn${i + 1}`, get<BatchNorm2d>(`bn${i + 1}`), conv(w, `${p}.${c}`, get<Conv2d>(c), h));
    if (i < convs.length - 1) h = layer(w, '', new ReLU(), h);
  });
  const shortName = kids.has('shortcut') ? 'shortcut' : kids.has('downsample') ? 'downsample' : null;
  const skip = shortName ? sequential(w, `${p}.${shortName}`, get<Sequential>(shortName), x) : x;
  const y = w.fresh();
  w.emit(`${y} = torch.relu(${h} + ${skip})`);
  return y;
}

function body(model: ImageClassifier, w: Writer): string {
  const [, hgt, wid] = model.config.inputShape;
  let x = w.fresh();
  w.emit(`${x} = (x - self.input_mean) / self.input_std`);
  if (model instanceof SmallCNN) {
    x = sequential(w, 'features', model.features, x);
    return layer(w, '', new ReLU(), linear(w, 'fc', model.fc, x));
  }
  if (model instanceof VGG) {
    x = sequential(w, 'features', model.features, x);
    const pools = model.features.layers.filter((m) => m instanceof MaxPool2d).length;
    if (Math.floor(hgt / 2 ** pools) !== 1 || Math.floor(wid / 2 ** pools) !== 1) {
      const y = w.fresh();
      w.emit(`${y} = torch.adaptive_avg_pool2d(${x}, [1, 1])`);
      x = y;
    }
    const y = w.fresh();
    w.emit(`${y} = torch.flatten(${x}, 1, -1)`);
    return y;
  }
  if (model instanceof ResNet) {
    x = layer(w, '', new ReLU(), bn(w, 'bn1', model.bn1, conv(w, 'conv1', model.conv1, x)));
    if (model.maxpool) x = layer(w, 'maxpool', model.maxpool, x);
    model.layers.forEach((l, i) =>
      l.layers.forEach((b, j) => {
        x = block(w, `layer${i + 1}.${j}`, b, x);
      }),
    );
    const y = w.fresh();
    w.emit(`${y} = torch.flatten(torch.adaptive_avg_pool2d(${x}, [1, 1]), 1, -1)`);
    return y;
  }
  throw new Error(`export: ${model.config.arch} models cannot be exported`);
}

/**
 * Writes `model` as a TorchScript file whose forward returns (logits, features).
 *
 * @example
 * ```ts
 * exportTorchScript(model, 'model.pt'); // in Python: logits, features = torch.jit.load('model.pt')(x)
 * ```
 */
export function exportTorchScript(model: ImageClassifier, path: string): void {
  const w = new Writer();
  const features = body(model, w);
  const logits = linear(w, 'classifier', model.classifier as Linear, features);
  const source = `def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:\n${w.lines.join('\n')}\n    return (${logits}, ${features})\n`;
  const m = emptyScriptModule(`SauronModel_${model.config.arch.replace(/[^A-Za-z0-9]/g, '_')}`);
  scope(() => {
    // Host copies: an exported file loads anywhere, whatever device the model is on.
    for (const [k, t] of model.namedParameters()) m.registerTensor(flat(k), t.cpu().native, false);
    for (const [k, t] of model.namedBuffers()) m.registerTensor(flat(k), t.cpu().native, true);
    const [ch] = model.config.inputShape;
    const n = model.config.normalization;
    m.registerTensor('input_mean', tensor(n.mean, { shape: [1, ch, 1, 1], device: 'cpu' }).native, true);
    m.registerTensor('input_std', tensor(n.std, { shape: [1, ch, 1, 1], device: 'cpu' }).native, true);
  });
  m.define(source);
  m.train(false);
  m.save(path);
}
