// Images as PNG for the pages: data-set images and adversarial examples as they are, and a
// perturbation as a diverging colour map (blue where the attack darkened, red where it
// brightened, white unchanged), amplified so its largest change is full colour.
import sharp from 'sharp';

/** float32 CHW in [0, 1] -> PNG. */
export async function imagePng(chw: Float32Array, shape: readonly number[]): Promise<Buffer> {
  const [c, h, w] = shape as [number, number, number];
  const px = new Uint8Array(h * w * c);
  for (let k = 0; k < c; k++) {
    for (let p = 0; p < h * w; p++) px[p * c + k] = Math.round(255 * Math.min(1, Math.max(0, chw[k * h * w + p]!)));
  }
  return sharp(px, { raw: { width: w, height: h, channels: c as 1 | 3 } })
    .png()
    .toBuffer();
}

/** (adversarial - clean) averaged over channels, scaled by its largest magnitude. */
export async function perturbationPng(
  clean: Float32Array,
  adversarial: Float32Array,
  shape: readonly number[],
): Promise<{ png: Buffer; maxAbs: number }> {
  const [c, h, w] = shape as [number, number, number];
  const diff = new Float32Array(h * w);
  for (let k = 0; k < c; k++) for (let p = 0; p < h * w; p++) diff[p]! += (adversarial[k * h * w + p]! - clean[k * h * w + p]!) / c;
  let maxAbs = 0;
  for (const v of diff) maxAbs = Math.max(maxAbs, Math.abs(v));
  const px = new Uint8Array(h * w * 3);
  for (let p = 0; p < h * w; p++) {
    const t = maxAbs > 0 ? diff[p]! / maxAbs : 0; // in [-1, 1]
    const fade = Math.round(255 * (1 - Math.abs(t)));
    // red for positive, blue for negative, white at zero
    px[p * 3] = t >= 0 ? 255 : fade;
    px[p * 3 + 1] = fade;
    px[p * 3 + 2] = t <= 0 ? 255 : fade;
  }
  const png = await sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toBuffer();
  return { png, maxAbs };
}
