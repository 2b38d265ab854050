// Live attacks as jobs: each runs in a worker thread of its own (the HTTP thread stays free
// and several tabs can attack at once), at most `concurrency` at a time, the rest queued.
// Cancelling a running job terminates its thread; finished jobs keep their images until
// `keep` newer jobs have finished.
import { Worker } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import type { AttackRequest, JobInfo } from './apiTypes.js';
import type { WorkerInput, WorkerMessage } from './attackWorker.js';

interface Job {
  info: JobInfo;
  input: WorkerInput;
  started: number;
  worker: Worker | null;
  images?: { clean: Float32Array; adversarial: Float32Array; shape: number[] };
}

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './attackWorker.ts' : './attackWorker.js', import.meta.url);

function startWorker(input: WorkerInput): Worker {
  if (WORKER_URL.pathname.endsWith('.ts')) {
    // From the sources (tests, tsx): a worker does not inherit the TypeScript loader.
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;
    return new Worker(boot, { eval: true, workerData: input });
  }
  return new Worker(WORKER_URL, { workerData: input });
}

export class JobQueue {
  readonly #jobs = new Map<string, Job>();
  #running = 0;

  constructor(
    readonly concurrency = 2,
    readonly keep = 64,
  ) {}

  submit(request: AttackRequest, input: WorkerInput): JobInfo {
    const id = randomUUID();
    const job: Job = {
      info: { id, request, state: 'queued', phase: 'queued', progress: 0, seconds: 0 },
      input,
      started: Date.now(),
      worker: null,
    };
    this.#jobs.set(id, job);
    this.#pump();
    return this.info(id)!;
  }

  info(id: string): JobInfo | null {
    const j = this.#jobs.get(id);
    if (!j) return null;
    if (j.info.state === 'queued' || j.info.state === 'running') j.info.seconds = +((Date.now() - j.started) / 1000).toFixed(1);
    return { ...j.info };
  }

  images(id: string): Job['images'] | null {
    return this.#jobs.get(id)?.images ?? null;
  }

  /** true if the job was queued or running and is now cancelled. */
  cancel(id: string): boolean {
    const j = this.#jobs.get(id);
    if (!j || (j.info.state !== 'queued' && j.info.state !== 'running')) return false;
    // #finish forgets the worker: terminate the one taken before it
    const worker = j.worker;
    this.#finish(j, { state: 'cancelled', phase: 'cancelled' });
    void worker?.terminate();
    return true;
  }

  async close(): Promise<void> {
    for (const j of this.#jobs.values()) if (j.info.state === 'queued' || j.info.state === 'running') this.cancel(j.info.id);
  }

  #finish(j: Job, patch: Partial<JobInfo>): void {
    if (j.info.state === 'running') this.#running--;
    Object.assign(j.info, patch, { seconds: +((Date.now() - j.started) / 1000).toFixed(1) });
    j.worker = null;
    const done = [...this.#jobs.values()].filter((x) => x.info.state !== 'queued' && x.info.state !== 'running');
    for (const old of done.slice(0, Math.max(0, done.length - this.keep))) this.#jobs.delete(old.info.id);
    this.#pump();
  }

  #pump(): void {
    for (const j of this.#jobs.values()) {
      if (this.#running >= this.concurrency) return;
      if (j.info.state !== 'queued') continue;
      this.#running++;
      j.info.state = 'running';
      j.info.phase = 'starting';
      const w = startWorker(j.input);
      j.worker = w;
      const live = () => j.worker === w && j.info.state === 'running';
      w.on('message', (m: WorkerMessage) => {
        if (!live()) return;
        if (m.type === 'phase') j.info.phase = m.phase;
        else if (m.type === 'progress') j.info.progress = m.fraction;
        else if (m.type === 'error') this.#finish(j, { state: 'failed', phase: 'failed', error: m.message });
        else {
          j.images = { clean: m.clean, adversarial: m.adversarial, shape: m.shape };
          this.#finish(j, { state: 'done', phase: 'done', progress: 1, outcome: m.outcome });
        }
        if (!live()) void w.terminate();
      });
      w.on('error', (e) => live() && this.#finish(j, { state: 'failed', phase: 'failed', error: e.message }));
      w.on(
        'exit',
        (code) => live() && this.#finish(j, { state: 'failed', phase: 'failed', error: `the attack worker stopped (exit code ${code})` }),
      );
    }
  }
}
