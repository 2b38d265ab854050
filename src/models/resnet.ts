// ResNets in two layouts: CIFAR (3x3 stem, as the reference's robustness library, shortcut
// blocks named `shortcut`) and ImageNet (7x7 stem + max pool, torchvision's names with
// `downsample`). The fully connected layer is named `classifier` in both.
import type { Tensor } from '../tensor/tensor.js';
import { BatchNorm2d, Conv2d, Linear, MaxPool2d, Sequential, type InitOptions } from '../nn/layers.js';
import * as F from '../nn/functional.js';
import { Module } from '../nn/module.js';
import { ImageClassifier, scaled, type LayerSplit, type ModelConfig } from './classifier.js';

type Layout = 'cifar' | 'imagenet';

interface Block extends Module<[Tensor, boolean?], Tensor> {
  readonly outChannels: number;
}

function shortcut(inC: number, outC: number, stride: number, init: InitOptions): Sequential | null {
  if (stride === 1 && inC === outC) return null;
  return new Sequential(new Conv2d(inC, outC, 1, { stride, bias: false, generator: init.generator }), new BatchNorm2d(outC));
}

/** bn(conv(x)), with an optional ReLU; intermediate handles are freed (the graph keeps what it needs). */
function convBn(conv: Conv2d, bn: BatchNorm2d, x: Tensor, relu: boolean): Tensor {
  const c = conv.forward(x);
  const b = bn.forward(c);
  c.dispose();
  if (!relu) return b;
  const r = b.relu();
  b.dispose();
  return r;
}

function finish(out: Tensor, skip: Tensor, fakeRelu: boolean): Tensor {
  const sum = out.add(skip);
  const r = fakeRelu ? F.fakeRelu(sum) : sum.relu();
  sum.dispose();
  return r;
}

class BasicBlock extends Module<[Tensor, boolean?], Tensor> implements Block {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly short: Sequential | null;
  readonly outChannels: number;

  constructor(inC: number, planes: number, stride: number, layout: Layout, init: InitOptions) {
    super();
    this.outChannels = planes;
    this.conv1 = this.registerModule('conv1', new Conv2d(inC, planes, 3, { stride, padding: 1, bias: false, generator: init.generator }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { padding: 1, bias: false, generator: init.generator }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    const s = shortcut(inC, planes, stride, init);
    this.short = s ? this.registerModule(layout === 'cifar' ? 'shortcut' : 'downsample', s) : null;
  }

  forward(x: Tensor, fakeRelu = false): Tensor {
    const h1 = convBn(this.conv1, this.bn1, x, true);
    const h2 = convBn(this.conv2, this.bn2, h1, false);
    const skip = this.short ? this.short.forward(x) : x;
    const out = finish(h2, skip, fakeRelu);
    for (const t of [h1, h2]) t.dispose();
    if (skip !== x) skip.dispose();
    return out;
  }
}

class Bottleneck extends Module<[Tensor, boolean?], Tensor> implements Block {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly short: Sequential | null;
  readonly outChannels: number;

  constructor(inC: number, planes: number, stride: number, layout: Layout, init: InitOptions) {
    super();
    const outC = planes * Bottleneck.expansion;
    this.outChannels = outC;
    const g = init.generator;
    this.conv1 = this.registerModule('conv1', new Conv2d(inC, planes, 1, { bias: false, generator: g }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { stride, padding: 1, bias: false, generator: g }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.conv3 = this.registerModule('conv3', new Conv2d(planes, outC, 1, { bias: false, generator: g }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(outC));
    const s = shortcut(inC, outC, stride, init);
    this.short = s ? this.registerModule(layout === 'cifar' ? 'shortcut' : 'downsample', s) : null;
  }

  forward(x: Tensor, fakeRelu = false): Tensor {
    const h1 = convBn(this.conv1, this.bn1, x, true);
    const h2 = convBn(this.conv2, this.bn2, h1, true);
    const h3 = convBn(this.conv3, this.bn3, h2, false);
    const skip = this.short ? this.short.forward(x) : x;
    const out = finish(h3, skip, fakeRelu);
    for (const t of [h1, h2, h3]) t.dispose();
    if (skip !== x) skip.dispose();
    return out;
  }
}

const DEPTHS: Record<string, { block: 'basic' | 'bottleneck'; layers: number[] }> = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2] },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
};

export const RESNET_ARCHS = Object.keys(DEPTHS).flatMap((k) => [k, `${k}-imagenet`]);

export class ResNet extends ImageClassifier {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly maxpool: MaxPool2d | null;
  readonly layers: Sequential[];
  readonly classifier: Linear;
  readonly layout: Layout;

  constructor(config: ModelConfig, init: InitOptions = {}) {
    super(config);
    const layout: Layout = config.arch.endsWith('-imagenet') ? 'imagenet' : 'cifar';
    const depth = DEPTHS[config.arch.replace(/-imagenet$/, '')];
    if (!depth) throw new Error(`unknown ResNet '${config.arch}' (expected ${RESNET_ARCHS.join(', ')})`);
    this.layout = layout;
    const w = this.config.width;
    const g = init.generator;
    const stem = scaled(64, w);
    const [c, h, wd] = config.inputShape;
    const minSize = layout === 'imagenet' ? 32 : 8;
    if (h < minSize || wd < minSize) throw new Error(`${config.arch} needs inputs of at least ${minSize}x${minSize}, got ${h}x${wd}`);
    this.conv1 = this.registerModule(
      'conv1',
      layout === 'cifar'
        ? new Conv2d(c, stem, 3, { padding: 1, bias: false, generator: g })
        : new Conv2d(c, stem, 7, { stride: 2, padding: 3, bias: false, generator: g }),
    );
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(stem));
    this.maxpool = layout === 'imagenet' ? this.registerModule('maxpool', new MaxPool2d(3, 2, 1)) : null;
    let inC = stem;
    this.layers = [64, 128, 256, 512].map((planes, i) => {
      const blocks: Block[] = [];
      for (let b = 0; b < depth.layers[i]!; b++) {
        const stride = b === 0 && i > 0 ? 2 : 1;
        const blk: Block =
          depth.block === 'basic'
            ? new BasicBlock(inC, scaled(planes, w), stride, layout, init)
            : new Bottleneck(inC, scaled(planes, w), stride, layout, init);
        inC = blk.outChannels;
        blocks.push(blk);
      }
      return this.registerModule(`layer${i + 1}`, new Sequential(...(blocks as unknown as Module[])));
    });
    this.classifier = this.registerModule('classifier', new Linear(inC, config.numClasses, { generator: g }));
  }

  override layerNames(): string[] {
    return ['stem', 'layer1', 'layer2', 'layer3', 'layer4', 'penultimate'];
  }

  override splitAt(layer: string): LayerSplit {
    const stages = ['stem', 'layer1', 'layer2', 'layer3', 'layer4'];
    const k = stages.indexOf(layer);
    if (k < 0) return super.splitAt(layer);
    const stem = (x: Tensor) => {
      const h = this.bn1.forward(this.conv1.forward(this.normalize(x))).relu();
      return this.maxpool ? this.maxpool.forward(h) : h;
    };
    const run = (h: Tensor, from: number, to: number) => this.layers.slice(from, to).reduce((a, l) => l.forward(a), h);
    return {
      layer,
      nonNegative: true,
      head: (x) => run(stem(x), 0, k),
      tail: (a) => this.classifier.forward(F.adaptiveAvgPool2d(run(a, k, 4), 1).flatten(1)),
    };
  }

  protected embed(x: Tensor, fakeRelu: boolean): Tensor {
    const a = this.conv1.forward(x);
    const b = this.bn1.forward(a);
    a.dispose();
    let cur = b.relu();
    b.dispose();
    if (this.maxpool) {
      const p = this.maxpool.forward(cur);
      cur.dispose();
      cur = p;
    }
    const blocks = this.layers.flatMap((l) => l.layers as unknown as Block[]);
    blocks.forEach((blk, i) => {
      const next = blk.forward(cur, fakeRelu && i === blocks.length - 1);
      cur.dispose();
      cur = next;
    });
    const pooled = F.adaptiveAvgPool2d(cur, 1);
    cur.dispose();
    const flat = pooled.flatten(1);
    pooled.dispose();
    return flat;
  }
}
