import { Command } from 'commander';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchProcesses } from '../experiments/launchProcesses.js';
import { positiveInt } from './options.js';

const SUBCOMMANDS = ['train', 'eval', 'sensitivity', 'attack', 'prune', 'reproduce', 'convert', 'export', 'bench'];

export function launchCommand(): Command {
  return new Command('launch')
    .summary('Run N local ranks of a command with the environment torchrun sets')
    .description(
      'Run N local processes of a command with the environment torchrun sets (RANK, LOCAL_RANK, WORLD_SIZE, ' +
        'LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), without Python. Output lines carry their rank. When one process ' +
        'fails, the others are stopped and the failed rank is named. A sauron subcommand runs this sauron: ' +
        '`sauron launch --nproc 2 -- train ...`; anything else runs as given: `sauron launch --nproc 2 -- node my-script.js`.',
    )
    .optionsGroup('Processes:')
    .requiredOption('--nproc <n>', 'processes to start', positiveInt('--nproc'))
    .option('--master-port <port>', 'rendezvous port on 127.0.0.1 (default: a free one)', positiveInt('--master-port'))
    .option('--grace <seconds>', 'how long the others get to stop after one failed', positiveInt('--grace'), 10)
    .argument('<command...>', 'the command and its arguments (after --)')
    .action(async (command: string[], o: { nproc: number; masterPort?: number; grace: number }) => {
      const [head, ...rest] = command;
      const self = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'sauron.js');
      const sub = SUBCOMMANDS.includes(head!);
      const r = await launchProcesses({
        nproc: o.nproc,
        masterPort: o.masterPort,
        graceSeconds: o.grace,
        command: sub ? process.execPath : head!,
        args: sub ? [self, head!, ...rest] : rest,
        onLine: (rank, stream, line) => (stream === 'stdout' ? process.stdout : process.stderr).write(`[rank ${rank}] ${line}\n`),
      });
      if (r.failedRank !== null) throw new Error(`${r.reason}; the other ranks were stopped`);
    });
}
