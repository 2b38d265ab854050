// `sauron`: every command is a thin shell over the typed API.
import { CommanderError } from 'commander';
import { sauronProgram } from './program.js';

const program = sauronProgram();

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode;
  } else {
    console.error(`sauron: ${(e as Error).message}`);
    if (process.env.SAURON_STACK) console.error((e as Error).stack);
    process.exitCode = 1;
  }
}
