import { spawn } from 'node:child_process';
import { Command } from 'commander';
import { startExplorer } from '../explore/server.js';
import { nonNegativeInt, positiveInt } from './options.js';
import { DATA } from './helpGroups.js';

export function exploreCommand(): Command {
  return new Command('explore')
    .summary('Browse models, neurons and live attacks in a local web page')
    .description(
      'Browse models, inputs, neurons and live attacks in a local web page, over run, sensitivity, attack ' +
        'and reproduce folders (any mix, or folders holding them). Everything is served locally; Ctrl-C stops it.',
    )
    .argument('<folders...>', 'run, sensitivity, attack or reproduce folders')
    .optionsGroup(DATA)
    .option('--data <dir>', 'data folder for models whose run folder records none')
    .option('--limit <n>', 'inputs analysed for a model without a sensitivity folder', positiveInt('--limit'), 1000)
    .optionsGroup('Server:')
    .option('--port <n>', 'port (0: any free one)', nonNegativeInt('--port'), 8080)
    .option('--host <addr>', 'address to listen on (other machines can connect only if you change it)', '127.0.0.1')
    .option('--open', 'open the page in the default browser')
    .action(async (folders: string[], o: { port: number; host: string; limit: number; data?: string; open?: boolean }) => {
      if (o.port > 65535) throw new Error(`--port must be at most 65535, got ${o.port}`);
      const ex = await startExplorer({ folders, port: o.port, host: o.host, limit: o.limit, data: o.data });
      console.log(`Sauron explorer: ${ex.url} (${ex.explorer.models.size} model(s); Ctrl-C stops)`);
      if (o.open)
        spawn(process.platform === 'darwin' ? 'open' : 'xdg-open', [ex.url], { stdio: 'ignore', detached: true })
          .on('error', () => {})
          .unref();
      await new Promise<void>((resolve) => {
        const stop = () => void ex.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
