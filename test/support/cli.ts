// The command line as a user runs it: `node bin/sauron.js ARGS` (the compiled dist/ when it
// exists, else src/ through tsx), from the repository's root unless a test names another folder.
// Every test that starts the CLI goes through here: `sauron` runs a command to its end,
// `sauronOk` also asserts it succeeded, and `startSauron` starts one as a child process for the
// tests that wait for it at a pause point, signal or kill it.
import assert from 'node:assert/strict';
import { type ChildProcess, type SpawnSyncReturns, type StdioOptions, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

/** The CLI's entry point, for tests that hand it to another launcher (torchrun). */
export const SAURON_BIN = join(ROOT, 'bin', 'sauron.js');

export interface SauronOptions {
  /** Working folder; the repository's root by default. */
  cwd?: string;
  /** Variables set on top of this process's environment. */
  env?: Record<string, string>;
  /** Milliseconds after which the command is killed (a hang becomes a failure, not a stuck suite). */
  timeout?: number;
}

/** `sauron ARGS` run to its end: its exit status and its stdout and stderr as text. */
export function sauron(args: readonly string[], opts: SauronOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [SAURON_BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: 'utf8',
    ...(opts.env && { env: { ...process.env, ...opts.env } }),
    ...(opts.timeout !== undefined && { timeout: opts.timeout }),
  });
}

/** `sauron ARGS` run to its end, which must exit 0 (the failure names the command and shows its stderr). */
export function sauronOk(args: readonly string[], opts: SauronOptions = {}): SpawnSyncReturns<string> {
  const r = sauron(args, opts);
  assert.equal(r.status, 0, `sauron ${args.join(' ')} failed:\n${r.stderr}`);
  return r;
}

export interface StartOptions {
  /** Working folder; the repository's root by default. */
  cwd?: string;
  /** Variables set on top of this process's environment (a pause point's, a rank's). */
  env?: Record<string, string>;
  /** The child's stdio, as `spawn` takes it; pipes by default ('ignore' when nothing reads them). */
  stdio?: StdioOptions;
}

/** `sauron ARGS` started as a child process; the caller waits for it, signals or kills it. */
export function startSauron(args: readonly string[], opts: StartOptions = {}): ChildProcess {
  return spawn(process.execPath, [SAURON_BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    ...(opts.env && { env: { ...process.env, ...opts.env } }),
    ...(opts.stdio !== undefined && { stdio: opts.stdio }),
  });
}
