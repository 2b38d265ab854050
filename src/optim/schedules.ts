// Learning-rate schedules as pure functions of the step (or epoch) index, so a resumed run
// gets the same rate as an uninterrupted one. Formulas follow torch.optim.lr_scheduler.

/**
 * A learning-rate schedule as a pure function of the step, so a resumed run gets the same rate as an uninterrupted one.
 */
export interface LRSchedule {
  /** The learning rate to use at step t (t = 0 is the first step). */
  lr(t: number): number;
}

function checkStep(t: number): void {
  if (!Number.isInteger(t) || t < 0) throw new RangeError(`schedule step must be a non-negative integer, got ${t}`);
}

/** The same rate at every step. */
export class ConstantLR implements LRSchedule {
  constructor(readonly baseLr: number) {}
  lr(t: number): number {
    checkStep(t);
    return this.baseLr;
  }
}

/** StepLR: baseLr * gamma^floor(t / stepSize). */
export class StepLR implements LRSchedule {
  constructor(
    readonly baseLr: number,
    readonly stepSize: number,
    readonly gamma = 0.1,
  ) {
    if (!Number.isInteger(stepSize) || stepSize <= 0) throw new RangeError(`stepSize must be a positive integer, got ${stepSize}`);
  }
  lr(t: number): number {
    checkStep(t);
    return this.baseLr * this.gamma ** Math.floor(t / this.stepSize);
  }
}

/** MultiStepLR: multiplied by gamma at each milestone. */
export class MultiStepLR implements LRSchedule {
  constructor(
    readonly baseLr: number,
    readonly milestones: number[],
    readonly gamma = 0.1,
  ) {}
  lr(t: number): number {
    checkStep(t);
    return this.baseLr * this.gamma ** this.milestones.filter((m) => m <= t).length;
  }
}

/** CosineAnnealingLR (closed form): etaMin + (base - etaMin) * (1 + cos(pi t / tMax)) / 2. */
export class CosineLR implements LRSchedule {
  constructor(
    readonly baseLr: number,
    readonly tMax: number,
    readonly etaMin = 0,
  ) {
    if (!(tMax > 0)) throw new RangeError(`tMax must be positive, got ${tMax}`);
  }
  lr(t: number): number {
    checkStep(t);
    return this.etaMin + ((this.baseLr - this.etaMin) * (1 + Math.cos((Math.PI * t) / this.tMax))) / 2;
  }
}

/**
 * OneCycleLR (two phases, cosine annealing) as in PyTorch: warm up from maxLr/divFactor to
 * maxLr over pctStart of the steps, then anneal to initial/finalDivFactor. Learning rate
 * only: momentum is not cycled (PyTorch's cycle_momentum=False).
 */
export class OneCycleLR implements LRSchedule {
  constructor(
    readonly maxLr: number,
    readonly totalSteps: number,
    readonly opts: { pctStart?: number; divFactor?: number; finalDivFactor?: number } = {},
  ) {
    if (!Number.isInteger(totalSteps) || totalSteps <= 0) throw new RangeError(`totalSteps must be a positive integer, got ${totalSteps}`);
    const p = opts.pctStart ?? 0.3;
    if (!(p > 0 && p < 1)) throw new RangeError(`pctStart must be in (0, 1), got ${p}`);
  }
  lr(t: number): number {
    checkStep(t);
    if (t >= this.totalSteps) throw new RangeError(`step ${t} is past the schedule's ${this.totalSteps} steps`);
    const initial = this.maxLr / (this.opts.divFactor ?? 25);
    const min = initial / (this.opts.finalDivFactor ?? 1e4);
    const phases = [
      { end: (this.opts.pctStart ?? 0.3) * this.totalSteps - 1, from: initial, to: this.maxLr },
      { end: this.totalSteps - 1, from: this.maxLr, to: min },
    ];
    const cos = (from: number, to: number, pct: number): number => to + ((from - to) / 2) * (1 + Math.cos(Math.PI * pct));
    let start = 0;
    for (let i = 0; i < phases.length; i++) {
      const ph = phases[i]!;
      if (t <= ph.end || i === phases.length - 1) return cos(ph.from, ph.to, (t - start) / (ph.end - start));
      start = ph.end;
    }
    return min;
  }
}
