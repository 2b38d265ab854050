// The `sauron` program: every command, assembled once, for main.ts to run and for
// scripts/cli-reference.ts to document (docs/cli.md is generated from it).
import { Command } from 'commander';
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
import { configureSauronHelp } from './helpGroups.js';

/** A fresh `sauron` program; parsing errors throw a CommanderError instead of exiting. */
export function sauronProgram(): Command {
  const program = new Command('sauron')
    .description(
      'Find the feature neurons an image classifier depends on most, attack through them, and train models that do not depend on any one neuron.',
    )
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
  return configureSauronHelp(program);
}
