// A test hook, inert unless SAURON_TEST_PAUSE_AT is set: tests that kill a command at a known
// point (mid-epoch, before a result is swapped in) stop it there instead of racing it.
import { existsSync, writeFileSync } from 'node:fs';

/**
 * When SAURON_TEST_PAUSE_AT equals `point`: writes SAURON_TEST_PAUSE_FILE + '.paused' (the pid)
 * and sleeps until SAURON_TEST_PAUSE_FILE exists, then goes on.
 */
export function testPause(point: string): void {
  if (process.env.SAURON_TEST_PAUSE_AT !== point) return;
  const file = process.env.SAURON_TEST_PAUSE_FILE;
  if (!file) throw new Error('SAURON_TEST_PAUSE_AT needs SAURON_TEST_PAUSE_FILE');
  writeFileSync(`${file}.paused`, `${process.pid}\n`);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (!existsSync(file)) Atomics.wait(nap, 0, 0, 20);
}
