// AutoAttack's versions as data: which attacks run, in which order, with which settings, exactly
// as fra31/auto-attack's AutoAttack sets them (its constructor's defaults, then set_version).
import type { Norm } from './threat.js';
import type { RobustAttackName } from './robustAttackTypes.js';

/** AutoAttack's versions as the reference names them ('custom': the attacks listed). */
export const AUTOATTACK_VERSIONS = ['standard', 'plus', 'rand', 'custom'] as const;
/** One of {@link AUTOATTACK_VERSIONS}. */
export type AutoAttackVersion = (typeof AUTOATTACK_VERSIONS)[number];

/** Every attack a version may run, named as the reference names them. */
export const ROBUST_ATTACKS: readonly RobustAttackName[] = ['apgd-ce', 'apgd-dlr', 'apgd-t', 'fab', 'fab-t', 'square'];

/**
 * One attack of a version with its settings (the reference's names: n_restarts, n_iter,
 * eot_iter, rho, n_target_classes, use_largereps, n_queries, p_init).
 */
export type PlannedAttack =
  | { attack: 'apgd-ce' | 'apgd-dlr'; restarts: number; iterations: number; eotIter: number; rho: number; largeReps: boolean }
  | { attack: 'apgd-t'; restarts: number; targetClasses: number; iterations: number; eotIter: number; rho: number; largeReps: boolean }
  | { attack: 'fab'; restarts: number; iterations: number }
  | { attack: 'fab-t'; restarts: number; targetClasses: number; iterations: number }
  | { attack: 'square'; restarts: number; queries: number; pInit: number };

/** The reference's constructor: what `custom` runs each attack with. */
function defaults(name: RobustAttackName): PlannedAttack {
  switch (name) {
    case 'apgd-ce':
    case 'apgd-dlr':
      return { attack: name, restarts: 5, iterations: 100, eotIter: 1, rho: 0.75, largeReps: false };
    case 'apgd-t':
      return { attack: name, restarts: 1, targetClasses: 9, iterations: 100, eotIter: 1, rho: 0.75, largeReps: false };
    case 'fab':
      return { attack: name, restarts: 5, iterations: 100 };
    case 'fab-t':
      // run_standard_evaluation sets fab.n_restarts = 1 before FAB-T
      return { attack: name, restarts: 1, targetClasses: 9, iterations: 100 };
    case 'square':
      return { attack: name, restarts: 1, queries: 5000, pInit: 0.8 };
  }
}

/** An attack with some of its settings changed (the fields it has). */
function tuned(name: RobustAttackName, changes: Record<string, number | boolean>): PlannedAttack {
  const p = defaults(name) as PlannedAttack & Record<string, unknown>;
  for (const [k, v] of Object.entries(changes)) if (k in p) p[k] = v;
  return p;
}

/**
 * The attacks a version runs, in order:
 * - standard: APGD-CE (1 restart), APGD-T (9 targets), FAB-T (9 targets), Square (5000
 *   queries); for L1, APGD with large epsilon steps, 5 restarts and 5 targets;
 * - plus: APGD-CE and APGD-DLR (5 restarts each), FAB (5 restarts), Square, APGD-T, FAB-T;
 * - rand (randomised defences): APGD-CE and APGD-DLR, 1 restart each, each gradient averaged
 *   over 20 draws (EOT);
 * - custom: `attacks` in the given order, each as the reference constructs it.
 * `attacks` belongs to custom alone (the reference refuses it otherwise).
 */
export function autoAttackPlan(version: AutoAttackVersion, norm: Norm, attacks?: readonly string[]): PlannedAttack[] {
  if (version !== 'custom' && attacks?.length)
    throw new Error(`a list of attacks needs version 'custom' (version '${version}' sets its own)`);
  const l1 = (norm as string) === 'l1';
  switch (version) {
    case 'standard': {
      const apgd = l1 ? { restarts: 5, largeReps: true, targetClasses: 5 } : { restarts: 1, largeReps: false, targetClasses: 9 };
      return [tuned('apgd-ce', apgd), tuned('apgd-t', { ...apgd, restarts: 1 }), tuned('fab-t', {}), tuned('square', { queries: 5000 })];
    }
    case 'plus':
      return [
        tuned('apgd-ce', { restarts: 5 }),
        tuned('apgd-dlr', { restarts: 5 }),
        tuned('fab', { restarts: 5 }),
        tuned('square', { queries: 5000 }),
        tuned('apgd-t', { restarts: 1, targetClasses: 9 }),
        tuned('fab-t', { targetClasses: 9 }),
      ];
    case 'rand':
      return [tuned('apgd-ce', { restarts: 1, eotIter: 20 }), tuned('apgd-dlr', { restarts: 1, eotIter: 20 })];
    case 'custom': {
      if (!attacks?.length) throw new Error(`version 'custom' needs a list of attacks (of ${ROBUST_ATTACKS.join(', ')})`);
      const seen = new Set<string>();
      return attacks.map((a) => {
        if (!(ROBUST_ATTACKS as readonly string[]).includes(a))
          throw new Error(`unknown attack '${a}' (expected ${ROBUST_ATTACKS.join(', ')})`);
        if (seen.has(a)) throw new Error(`attack '${a}' is listed twice`);
        seen.add(a);
        return defaults(a as RobustAttackName);
      });
    }
    default:
      throw new Error(`unknown AutoAttack version '${String(version)}' (expected ${AUTOATTACK_VERSIONS.join(', ')})`);
  }
}
