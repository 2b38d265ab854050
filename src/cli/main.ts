// `sauron`: every command is a thin shell over the typed API.
import { Command, CommanderError } from 'commander';
import { benchCommand } from './benchCommand.js';
import { evalCommand } from './evalCommand.js';
import { trainCommand } from './trainCommand.js';
import { sensitivityCommand } from './sensitivityCommand.js';
import { attackCommand } from './attackCommand.js';
import { pruneCommand } from './pruneCommand.js';
import { reproduceCommand } from './reproduceCommand.js';
import { convertCommand } from './convertCommand.js';
import { exportCommand } from './exportCommand.js';
import { launchCommand } from './launchCommand.js';
import { exploreCommand } from './exploreCommand.js';

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
