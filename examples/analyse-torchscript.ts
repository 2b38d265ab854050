// Sensitivity analysis of your own PyTorch model (the paper's section 2): for every feature
// neuron of the layer before the logits, Delta, the smallest change of that neuron alone that
// flips each prediction, scaled by the neuron's spread over the data; prints the ten neurons the
// model depends on most. The model is a TorchScript file (torch.jit.script or torch.jit.trace);
// the images an ImageNet-style folder of class folders, or the embedded Fashion-MNIST.
//
//   npx tsx examples/analyse-torchscript.ts --model model.pt --images photos/ --image-size 224 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225
//   npx tsx examples/analyse-torchscript.ts --model fixtures/torchscript/ts_wrapped.pt --features-layer net.avgpool
import { parseArgs } from 'node:util';
import { loadAnyModel, loadImageFolder, openDataset, sensitivity, subset, type ImageDataset } from 'sauron';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    images: { type: 'string' }, // default: Fashion-MNIST's test images (for a 1x28x28 model)
    'image-size': { type: 'string', default: '224' },
    // A forward that returns logits only: the submodule whose output is the features (dotted path).
    // A forward returning (logits, features) needs nothing.
    'features-layer': { type: 'string' },
    mean: { type: 'string' }, // a model that expects normalised images: per-channel mean and std
    std: { type: 'string' },
    limit: { type: 'string', default: '1000' },
    tiny: { type: 'boolean', default: process.env.SAURON_EXAMPLES_TINY === '1' },
  },
});
if (!a.model) throw new Error('pass --model FILE.pt (a TorchScript model)');

// The images, as the model sees them: float32 [N, C, S, S] in [0, 1]. A folder is resized and
// centre-cropped as torchvision's evaluation transform does (shorter side 256/224 * S, crop S).
const size = Number(a['image-size']);
const all: ImageDataset = a.images
  ? loadImageFolder(a.images, 'test', { imageSize: size, resize: Math.round((size * 256) / 224), name: 'images' })
  : await openDataset('fashion-mnist', 'test');
const images = subset(all, { limit: a.tiny ? 64 : Number(a.limit) });

const numbers = (s?: string) => s!.split(',').map(Number);
const { model } = loadAnyModel(a.model, {
  inputShape: images.imageShape,
  featuresLayer: a['features-layer'],
  normalization: a.mean ? { mean: numbers(a.mean), std: numbers(a.std) } : undefined,
});

// Feature statistics (each neuron's mean and std) come from the analysed images here; the paper
// takes them over the training and test sets together: pass both in statsSets when you have them.
const topK = Math.min(16, model.featureDim); // how often each neuron is among an image's k most sensitive
const r = await sensitivity(model, images, {
  statsSets: [images],
  topK,
  onProgress: (phase, p) => {
    if (p.done === p.total) console.log(`${phase}: done (${p.total})`);
  },
});
model.dispose();

console.log(`${r.count} images, ${r.featureDim} feature neurons, ${r.classes} classes, accuracy ${(100 * r.accuracy).toFixed(1)}%`);
console.log('the ten most sensitive neurons (smallest mean scaled Delta in absolute value first):');
console.log(`neuron  mean scaled Delta  median Delta  never flips  in top-${topK} of`);
for (const i of r.mostSensitive.slice(0, 10)) {
  const s = r.neurons[i]!;
  console.log(
    `${String(i).padStart(6)}  ${(s.meanScaled === null ? '-' : s.meanScaled.toFixed(4)).padStart(17)}` +
      `  ${(s.deltaQuantiles?.q50 ?? Infinity).toFixed(4).padStart(12)}` +
      `  ${`${(100 * s.infRate).toFixed(0)}%`.padStart(11)}  ${s.topKCount} images`,
  );
}
