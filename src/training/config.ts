// Training configuration and the per-data-set defaults.
import type { AugmentOptions } from '../data/augment.js';

export type ScheduleName = 'constant' | 'step' | 'cosine' | 'onecycle';
export const SCHEDULES: readonly ScheduleName[] = ['constant', 'step', 'cosine', 'onecycle'];

export interface TrainConfig {
  method: 'standard';
  dataset: string;
  /** Folder of the data set (absent for the embedded Fashion-MNIST). */
  data?: string;
  arch: string;
  width: number;
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: ScheduleName;
  /** For the step schedule: epochs between decays, and the factor. */
  stepEpochs: number;
  gamma: number;
  seed: number;
  augment: AugmentOptions;
  /** Train / test on the first N samples only. */
  limit?: number;
  testLimit?: number;
  /** Side of folder images (imagenet). */
  imageSize?: number;
}

export type TrainDefaults = Omit<TrainConfig, 'dataset' | 'data' | 'limit' | 'testLimit' | 'method'>;

/** Defaults chosen per data set (measured on a 2-core machine for fashion-mnist, see README). */
export const DEFAULTS: Record<string, TrainDefaults> = {
  'fashion-mnist': {
    arch: 'small-cnn', width: 0.5, epochs: 12, batchSize: 128, lr: 0.05, momentum: 0.9, weightDecay: 5e-4,
    schedule: 'onecycle', stepEpochs: 4, gamma: 0.1, seed: 0, augment: { cropPadding: 2, hflip: false },
  },
  // The reference library's CIFAR recipe: VGG-19, SGD 0.1, step decay, crop + flip.
  cifar10: {
    arch: 'vgg19', width: 1, epochs: 150, batchSize: 128, lr: 0.1, momentum: 0.9, weightDecay: 5e-4,
    schedule: 'step', stepEpochs: 50, gamma: 0.1, seed: 0, augment: { cropPadding: 4, hflip: true },
  },
  imagenet: {
    arch: 'resnet50-imagenet', width: 1, epochs: 90, batchSize: 256, lr: 0.1, momentum: 0.9, weightDecay: 1e-4,
    schedule: 'step', stepEpochs: 30, gamma: 0.1, seed: 0, augment: { cropPadding: 0, hflip: false }, imageSize: 224,
  },
};
