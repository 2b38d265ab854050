// An attack's output folder and its resume state, whatever the attack: attack-config.json (the
// settings the folder belongs to), progress.jsonl (one line per finished batch: its records
// and seconds), partial/ (each batch's clean and adversarial rows while examples are saved),
// and at the end samples.csv, the merged examples and results.json (written last: its
// presence marks a finished attack).
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../serialization/atomic.js';
import { loadNpy, saveNpy, saveNpyArray } from '../serialization/npy.js';
import { scope } from '../tensor/scope.js';
import { cat, type Tensor } from '../tensor/tensor.js';
import { testPause } from '../serialization/testPause.js';

const PROGRESS = 'progress.jsonl';
const STATE = 'attack-config.json';
const PARTIAL = 'partial';
const RESULTS = 'results.json';
const SAMPLES = 'samples.csv';

/** One attacked batch: its records, its seconds and, when examples are saved, its rows (kept tensors). */
export interface BatchResult<R> {
  batch: number;
  seconds: number;
  records: R[];
  clean?: Tensor;
  adversarial?: Tensor;
}

export interface FolderOptions {
  /** Continue the run the folder holds (it must have the same fingerprint). */
  resume?: boolean;
  saveExamples?: boolean;
}

export class AttackFolder<R> {
  /** Finished batches' records, by batch. */
  readonly done = new Map<number, R[]>();
  /** Seconds spent on the finished batches, earlier runs included. */
  seconds = 0;

  private constructor(
    readonly out: string,
    readonly saveExamples: boolean,
  ) {}

  /**
   * Opens `out` for a run with this fingerprint: a resumed run gets the batches its progress
   * file lists (a line cut by a kill, or a batch whose examples are missing, is redone); a
   * fresh run clears an earlier run's files, and refuses a finished or started attack unless
   * resuming.
   */
  static open<R>(out: string, fingerprint: string, o: FolderOptions = {}): AttackFolder<R> {
    const f = new AttackFolder<R>(out, !!o.saveExamples);
    mkdirSync(out, { recursive: true });
    const statePath = join(out, STATE);
    if (o.resume && existsSync(statePath)) {
      if (readFileSync(statePath, 'utf8') !== fingerprint) {
        throw new Error(`${out} holds an attack with other settings: resume it with the same options, or use another --out`);
      }
      f.readProgress();
    } else {
      if (!o.resume && (existsSync(join(out, PROGRESS)) || existsSync(join(out, RESULTS)))) {
        throw new Error(`${out} holds another attack's results: pass --resume to continue it or choose another --out`);
      }
      for (const file of [PROGRESS, RESULTS, SAMPLES]) rmSync(join(out, file), { force: true });
      rmSync(join(out, PARTIAL), { recursive: true, force: true });
      writeFileAtomic(statePath, fingerprint);
    }
    if (f.saveExamples) mkdirSync(join(out, PARTIAL), { recursive: true });
    return f;
  }

  private readProgress(): void {
    const p = join(this.out, PROGRESS);
    if (!existsSync(p)) return;
    for (const line of readFileSync(p, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      let entry: { batch: number; seconds: number; records: R[] };
      try {
        entry = JSON.parse(line);
      } catch {
        continue; // a line cut by a kill: that batch is redone
      }
      if (this.saveExamples && !existsSync(this.partial('adv', entry.batch))) continue;
      if (!this.done.has(entry.batch)) this.seconds += entry.seconds;
      this.done.set(entry.batch, entry.records);
    }
  }

  private partial(kind: 'clean' | 'adv', batch: number): string {
    return join(this.out, PARTIAL, `${kind}-${batch}.npy`);
  }

  /** Records a finished batch: its examples first, then its progress line (which marks it done). */
  add(r: BatchResult<R>): void {
    if (this.saveExamples) {
      saveNpy(this.partial('clean', r.batch), r.clean!);
      saveNpy(this.partial('adv', r.batch), r.adversarial!);
    }
    this.seconds += r.seconds;
    appendFileSync(join(this.out, PROGRESS), `${JSON.stringify({ batch: r.batch, seconds: r.seconds, records: r.records })}\n`);
    this.done.set(r.batch, r.records);
    testPause(`attack batch ${r.batch} recorded`);
  }

  /** Every finished batch's records, in data-set order (the row order of the example files). */
  records(): R[] {
    return [...this.done.entries()].sort(([a], [b]) => a - b).flatMap(([, r]) => r);
  }

  writeSamples(csv: string): void {
    writeFileAtomic(join(this.out, SAMPLES), csv);
  }

  /** clean.npy, adversarial.npy (the batches' rows in order) and indices.npy (each row's input); partial/ goes. */
  mergeExamples(batches: number, indices: number[]): void {
    scope(() => {
      for (const [kind, file] of [
        ['clean', 'clean.npy'],
        ['adv', 'adversarial.npy'],
      ] as const) {
        const parts: Tensor[] = [];
        for (let b = 0; b < batches; b++) parts.push(loadNpy(this.partial(kind, b)));
        saveNpy(join(this.out, file), parts.length === 1 ? parts[0]! : cat(parts, 0));
      }
    });
    saveNpyArray(join(this.out, 'indices.npy'), BigInt64Array.from(indices.map(BigInt)), [indices.length], 'int64');
    rmSync(join(this.out, PARTIAL), { recursive: true, force: true });
  }

  /** results.json, written last: a folder with it holds a finished attack. */
  writeResults(results: unknown): void {
    writeFileAtomic(join(this.out, RESULTS), `${JSON.stringify(results, null, 2)}\n`);
  }
}

/** Whether `dir` holds a resumable (started) attack. */
export function hasAttackState(dir: string): boolean {
  return existsSync(join(dir, STATE));
}

/** The results.json of the attack in `dir`. */
export function attackResultsPath(dir: string): string {
  return join(dir, RESULTS);
}
