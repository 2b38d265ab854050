// Step rules for the loop (loop.ts). PGD and k-NS take the fixed step: steepest ascent by a
// constant step size, then the projection (robustness' step and project). A rule with memory,
// such as APGD's momentum with checkpoints and step-size halving, keeps it per row in `state`
// and reads each row's iteration and objective from the step's context.
import { THREATS, type Norm } from './threat.js';
import type { StepRule } from './loop.js';

export function fixedStep(norm: Norm, eps: number, stepSize: number): StepRule {
  const threat = THREATS[norm];
  return {
    init: () => ({}),
    next: ({ x, g, x0, state }) => ({ x: threat.project(threat.step(x, g, stepSize), x0, eps), state }),
  };
}
