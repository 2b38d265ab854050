// Runs a script as the ranks of a process group on 127.0.0.1 (torchrun's environment: RANK,
// WORLD_SIZE, MASTER_ADDR, MASTER_PORT), each printing one JSON line last; the exit codes and
// those lines, in rank order.
import { spawn } from 'node:child_process';
import { ROOT, freePort } from './helpers.js';

export interface RankResult {
  code: number | null;
  /** The rank's last stdout line as JSON, or { raw: stdout } when it is not JSON. */
  out: Record<string, unknown>;
}

export async function runRanks(script: string, n: number, env: Record<string, string> = {}): Promise<RankResult[]> {
  const port = await freePort();
  return Promise.all(
    Array.from(
      { length: n },
      (_, rank) =>
        new Promise<RankResult>((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', script], {
            cwd: ROOT,
            env: { ...process.env, ...env, RANK: String(rank), WORLD_SIZE: String(n), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
          });
          let stdout = '';
          child.stdout.on('data', (d) => (stdout += d));
          child.on('exit', (code) => {
            const line = stdout.trim().split('\n').pop() ?? '';
            let out: Record<string, unknown> = {};
            try {
              out = JSON.parse(line);
            } catch {
              out = { raw: stdout };
            }
            resolve({ code, out });
          });
        }),
    ),
  );
}
