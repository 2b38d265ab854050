// The components AutoAttack runs, one per attack name: a planned attack (autoattackVersions.ts)
// turned into a call of apgd.ts, fab.ts or square.ts with that attack's settings.
import type { ImageClassifier } from '../models/classifier.js';
import type { AttackBatch, AttackOutput } from './attackTypes.js';
import type { RobustAttackConfig, RobustAttackName, RobustRecord } from './robustAttackTypes.js';
import type { PlannedAttack } from './autoattackVersions.js';
import { apgdAttack } from './apgd.js';
import { fabAttack } from './fab.js';
import { squareAttack } from './square.js';

/** One attack of the cascade on some inputs: one record and one example per input, judged against the labels. */
export type RobustComponent = (
  model: ImageClassifier,
  batch: AttackBatch,
  planned: PlannedAttack,
  base: RobustAttackConfig,
) => AttackOutput<RobustRecord>;

function apgd(model: ImageClassifier, batch: AttackBatch, p: PlannedAttack, base: RobustAttackConfig): AttackOutput<RobustRecord> {
  if (p.attack !== 'apgd-ce' && p.attack !== 'apgd-dlr' && p.attack !== 'apgd-t') throw new Error(`${p.attack} is not an APGD attack`);
  // large epsilon steps belong to L1, which the threat models do not have yet
  if (p.largeReps) throw new Error(`${p.attack}: use_largereps (L1) is not supported`);
  return apgdAttack(model, batch, {
    ...base,
    loss: p.attack === 'apgd-ce' ? 'ce' : 'dlr',
    restarts: p.restarts,
    iterations: p.iterations,
    rho: p.rho,
    eotIter: p.eotIter,
    ...(p.attack === 'apgd-t' ? { targeted: true, targetClasses: p.targetClasses } : {}),
  });
}

function fab(model: ImageClassifier, batch: AttackBatch, p: PlannedAttack, base: RobustAttackConfig): AttackOutput<RobustRecord> {
  if (p.attack !== 'fab' && p.attack !== 'fab-t') throw new Error(`${p.attack} is not a FAB attack`);
  return fabAttack(model, batch, {
    ...base,
    targeted: p.attack === 'fab-t',
    restarts: p.restarts,
    iterations: p.iterations,
    ...(p.attack === 'fab-t' ? { targetClasses: p.targetClasses } : {}),
  });
}

function square(model: ImageClassifier, batch: AttackBatch, p: PlannedAttack, base: RobustAttackConfig): AttackOutput<RobustRecord> {
  if (p.attack !== 'square') throw new Error(`${p.attack} is not Square`);
  const out = squareAttack(model, batch, { ...base, queries: p.queries, pInit: p.pInit, restarts: p.restarts });
  return { records: out.records, adversarial: out.adversarial };
}

export const COMPONENTS: Record<RobustAttackName, RobustComponent> = {
  'apgd-ce': apgd,
  'apgd-dlr': apgd,
  'apgd-t': apgd,
  fab,
  'fab-t': fab,
  square,
};
