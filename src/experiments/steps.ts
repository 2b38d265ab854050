// A list of cached, resumable steps run in order: a step whose output is already there is
// skipped (its earlier time is kept), a finished step leaves a marker with its time, and the
// caller hears which step starts with an estimate of the time left.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeFileAtomic } from '../serialization/atomic.js';

export interface Step {
  /** `kind-rest`: steps of one kind (the part before the first '-') share a time estimate. */
  id: string;
  title: string;
  done: () => boolean;
  run: () => Promise<void>;
}

/** How long one step of a pipeline took (seconds), or that it was skipped as already done. */
export interface StepTiming {
  id: string;
  title: string;
  seconds: number;
  skipped: boolean;
}

export interface RunStepsOptions {
  /** Folder for the per-step markers (id.json with the step's seconds). */
  markers: string;
  onStep?: (index: number, total: number, title: string, etaSeconds: number | null) => void;
  log?: (line: string) => void;
}

export async function runSteps(steps: Step[], o: RunStepsOptions): Promise<StepTiming[]> {
  mkdirSync(o.markers, { recursive: true });
  const marker = (id: string) => join(o.markers, `${id}.json`);
  const timings: StepTiming[] = [];
  // ETA: each remaining step is expected to take as long as the finished steps of its kind
  // took on average; no estimate until every remaining kind has been timed once (a training
  // step says little about an attack step).
  const spent = new Map<string, { seconds: number; count: number }>();
  const kindOf = (id: string) => id.split('-')[0]!;
  const eta = (rest: Step[]): number | null => {
    if (rest.some((st) => !spent.has(kindOf(st.id)))) return null;
    return rest.reduce((sum, st) => {
      const k = spent.get(kindOf(st.id))!;
      return sum + k.seconds / k.count;
    }, 0);
  };
  for (let i = 0; i < steps.length; i++) {
    const st = steps[i]!;
    if (st.done()) {
      const prev = existsSync(marker(st.id)) ? (JSON.parse(readFileSync(marker(st.id), 'utf8')).seconds as number) : 0;
      timings.push({ id: st.id, title: st.title, seconds: prev, skipped: true });
      continue;
    }
    o.onStep?.(i + 1, steps.length, st.title, eta(steps.slice(i).filter((x) => !x.done())));
    const t0 = performance.now();
    await st.run();
    const sec = (performance.now() - t0) / 1000;
    const k = spent.get(kindOf(st.id)) ?? { seconds: 0, count: 0 };
    spent.set(kindOf(st.id), { seconds: k.seconds + sec, count: k.count + 1 });
    writeFileAtomic(marker(st.id), `${JSON.stringify({ id: st.id, seconds: sec, finished: new Date().toISOString() })}\n`);
    timings.push({ id: st.id, title: st.title, seconds: sec, skipped: false });
    o.log?.(`${st.title}: done in ${sec.toFixed(1)} s`);
  }
  return timings;
}

/** Whether a step left its marker (for steps whose own output cannot tell). */
export function stepDone(markers: string, id: string): boolean {
  return existsSync(join(markers, `${id}.json`));
}
