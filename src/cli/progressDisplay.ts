// Progress display: a redrawn bar on a terminal, plain periodic lines otherwise (logs, CI).
import type { WriteStream } from 'node:tty';

function fmtTime(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return `${h ? `${h}:${String(m).padStart(2, '0')}` : String(m)}:${String(sec).padStart(2, '0')}`;
}

function fmtStat(k: string, v: number): string {
  if (k === 'acc' || k.endsWith('rate')) return `${k} ${(100 * v).toFixed(1)}%`;
  if (k === 'lr') return `lr ${v.toExponential(1)}`;
  return `${k} ${Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)}`;
}

export class ProgressBar {
  #start = 0;
  #label = '';
  #lastPlain = 0;
  readonly #tty: boolean;

  constructor(
    readonly stream: NodeJS.WriteStream = process.stderr,
    readonly plainEverySeconds = 15,
  ) {
    this.#tty = !!(stream as WriteStream).isTTY;
  }

  /** Starts a new bar (a new phase or epoch). */
  start(label: string): void {
    this.finish();
    this.#label = label;
    this.#start = Date.now();
    this.#lastPlain = this.#start;
  }

  update(done: number, total: number, stats: Record<string, number> = {}): void {
    const elapsed = (Date.now() - this.#start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
    const parts = Object.entries(stats)
      .map(([k, v]) => fmtStat(k, v))
      .join(', ');
    if (this.#tty) {
      const width = 24;
      const fill = Math.round((width * done) / Math.max(total, 1));
      const line = `${this.#label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${total} ${parts} ETA ${fmtTime(eta)}`;
      const cols = (this.stream as WriteStream).columns ?? 120;
      this.stream.write(`\r${line.slice(0, cols - 1).padEnd(Math.min(cols - 1, line.length))}\x1b[K`);
    } else if (done === total || Date.now() - this.#lastPlain >= this.plainEverySeconds * 1000) {
      this.#lastPlain = Date.now();
      this.stream.write(`${this.#label}: ${done}/${total}${parts ? `, ${parts}` : ''}, elapsed ${fmtTime(elapsed)}, ETA ${fmtTime(eta)}\n`);
    }
  }

  finish(): void {
    if (this.#tty && this.#label) this.stream.write('\n');
    this.#label = '';
  }
}
