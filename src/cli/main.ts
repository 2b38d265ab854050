// `sauron`: every command is a thin shell over the typed API.
import { Command, CommanderError } from 'commander';
import { benchCommand } from './bench.js';
import { evalCommand } from './eval.js';
import { trainCommand } from './train.js';
import { sensitivityCommand } from './sensitivity.js';
import { attackCommand } from './attack.js';
import { pruneCommand } from './prune.js';
import { reproduceCommand } from './reproduce.js';
import { convertCommand } from './convert.js';
import { exportCommand } from './export.js';
import { launchCommand } from './launch.js';
import { exploreCommand } from './explore.js';

const program = new Command('sauron')
  .description('Find the feature neurons an image classifier depends on most, attack through them, and train models that do not depend on any one neuron.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

program.addCommand(reproduceCommand());
program.addCommand(trainCommand());
program.addCommand(evalCommand());
program.addCommand(sensitivityCommand());
program.addCommand(attackCommand());
program.addCommand(pruneCommand());
program.addCommand(convertCommand());
program.addCommand(exportCommand());
program.addCommand(benchCommand());
program.addCommand(launchCommand());
program.addCommand(exploreCommand());

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
