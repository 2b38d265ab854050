// What a run folder's model.json must hold before a model is built from it. Every field
// Sauron writes is required: a manifest without `normalization` would silently evaluate raw
// pixels (docs/results.md, "A normalised model given raw pixels"), so it is refused, and a model without
// normalisation says so with `normalization: null`.
import { z } from 'zod';
import { DATASETS } from '../data/registry.js';
import { ARCHITECTURES } from './zoo.js';

const positiveInt = z.int({ error: 'expected a positive integer' }).positive({ error: 'expected a positive integer' });

const NormalizationSchema = z.object(
  {
    mean: z.array(z.number(), { error: 'expected an array of numbers, one per channel' }),
    std: z.array(z.number().positive({ error: 'expected a positive number' }), {
      error: 'expected an array of positive numbers, one per channel',
    }),
  },
  { error: 'expected {"mean": [...], "std": [...]} or null (no normalisation)' },
);

export const ManifestSchema = z
  .looseObject({
    format: z.literal('sauron-model', { error: 'expected "sauron-model" (a Sauron model manifest)' }),
    version: z.literal(1, { error: 'expected 1 (the only manifest version)' }),
    arch: z.string().refine((a) => ARCHITECTURES.includes(a), { error: `expected one of ${ARCHITECTURES.join(', ')}` }),
    inputShape: z.tuple([positiveInt, positiveInt, positiveInt], { error: 'expected [channels, height, width]' }),
    numClasses: positiveInt,
    width: z.number().positive({ error: 'expected a positive channel-width multiplier' }),
    normalization: z.union([z.null(), NormalizationSchema], { error: 'expected {"mean": [...], "std": [...]} or null (no normalisation)' }),
    featureDim: positiveInt,
    batchNorm: z.literal(false, { error: 'expected false or no field' }).optional(),
    classNames: z.array(z.string()).optional(),
    dataset: z.enum(DATASETS).optional(),
  })
  .superRefine((m, ctx) => {
    const c = m.inputShape[0];
    if (m.normalization) {
      for (const k of ['mean', 'std'] as const) {
        if (m.normalization[k].length !== c) {
          ctx.addIssue({
            code: 'custom',
            path: ['normalization', k],
            message: `expected ${c} value${c === 1 ? '' : 's'} (one per input channel)`,
          });
        }
      }
    }
    if (m.classNames && m.classNames.length !== m.numClasses) {
      ctx.addIssue({ code: 'custom', path: ['classNames'], message: `expected ${m.numClasses} names (numClasses)` });
    }
  });
