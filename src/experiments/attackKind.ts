// The seam between the attack runner (attackRunner.ts: the output folder, resuming, batches
// across ranks, transfer, examples) and one kind of attack: what a batch of inputs gives, the
// columns of its rows in samples.csv and the summary of its results.json. PGD and k-NS are one
// kind (attackRun.ts); an attack whose records or summary look otherwise is another kind and
// reuses the runner as it is.
import type { AttackBatch } from '../attacks/pgd.js';
import type { ImageClassifier } from '../models/classifier.js';
import type { Tensor } from '../tensor/tensor.js';

/** What the runner needs of every record: its input (position in the full data set) and that input's label. */
export interface AttackRow {
  index: number;
  label: number;
}

/** One column of samples.csv: its header and a row's cell. */
export type Column<R> = readonly [header: string, cell: (r: R) => unknown];

export interface AttackKind<R extends AttackRow, S extends object> {
  /** The settings as results.json records them (its `attack` field). */
  settings: Record<string, unknown>;
  /**
   * The settings a resumed run must share with the interrupted one (the runner adds the batch
   * size, the inputs, whether examples are saved and the run's meta).
   */
  fingerprint: Record<string, unknown>;
  /** Names the run in the folder's lock. */
  label: string;
  /**
   * Attacks one batch (indices are positions in the full data set). Records and adversarial
   * rows correspond one to one, grouped by input in the batch's order, the same number of rows
   * for every input.
   */
  attack(model: ImageClassifier, batch: AttackBatch): { records: R[]; adversarial: Tensor };
  /** The columns of samples.csv for these records (in data-set order). */
  columns(records: R[]): Column<R>[];
  /** results.json's fields after the run's meta and `attack`. */
  summarize(records: R[], seconds: number): S;
  /** Figures shown beside the progress bar, over the records so far. */
  progress(records: R[]): Record<string, number>;
  /**
   * Across ranks, the kind shares each batch's rows among the ranks itself and every rank gets
   * the whole batch's output (AutoAttack, rowShare.ts): every rank attacks every batch, and
   * rank 0 keeps them. Otherwise each batch is one rank's.
   */
  sharesRows?: boolean;
  /** Draws the run's figures into its folder, before results.json marks it finished. */
  figures?(out: string, results: S): Promise<void>;
}

/** samples.csv: a header line, then one line per record. */
export function samplesCsv<R>(records: R[], columns: Column<R>[]): string {
  const lines = [columns.map(([h]) => h).join(',')];
  for (const r of records) lines.push(columns.map(([, cell]) => String(cell(r))).join(','));
  return `${lines.join('\n')}\n`;
}
