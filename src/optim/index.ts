// Optimizers (libtorch's SGD, Adam, AdamW, with a multi-tensor SGD step on GPUs), learning-rate
// schedules and fp16 loss scaling. Imports only src/tensor and the addon (native.ts) for
// libtorch's optimizer objects.
/**
 * `sauron/optim`: libtorch's optimizers ({@link SGD}, {@link Adam}, {@link AdamW}), learning-rate
 * schedules as pure functions of the step ({@link StepLR}, {@link CosineLR}, {@link OneCycleLR}, ...)
 * and fp16 loss scaling ({@link GradScaler}).
 *
 * @example
 * ```ts
 * import { SGD, CosineLR } from 'sauron/optim';
 * const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
 * const schedule = new CosineLR(0.1, epochs * stepsPerEpoch);
 * opt.lr = schedule.lr(step);
 * ```
 * @module sauron/optim
 */
export * from './optimizer.js';
export * from './schedules.js';
export * from './gradScaler.js';
