// Generates docs/cli.md, the command-line reference, from the commander definitions in src/cli/
// (the very program `sauron` runs), so the reference cannot drift from `--help`; the test
// test/project/cliReference.test.ts fails when the checked-in file differs from what this prints.
//   node --import tsx scripts/cli-reference.ts           writes docs/cli.md
//   node --import tsx scripts/cli-reference.ts --check   exits 1 when docs/cli.md is out of date
// The output does not depend on the terminal: options are tables, not wrapped help text.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command, Help, Option } from 'commander';
import { sauronProgram } from '../src/cli/program.js';

export const CLI_MD = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'cli.md');
export const REGENERATE = 'node --import tsx scripts/cli-reference.ts';

/** Text for a table cell: pipes escaped, `<` escaped outside code spans (it would open an HTML tag). */
function cell(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 ? part : part.replace(/</g, '&lt;')))
    .join('')
    .replace(/\|/g, '\\|');
}

function code(text: string): string {
  return `\`${text}\``;
}

/** The default `--help` shows for an option (commander's rule), as text; undefined when it shows none. */
function shownDefault(o: Option): string | undefined {
  if (o.defaultValue === undefined) return undefined;
  if (!(o.required || o.optional || (o.isBoolean() && typeof o.defaultValue === 'boolean'))) return undefined;
  if (o.defaultValueDescription) return o.defaultValueDescription;
  return typeof o.defaultValue === 'string' ? o.defaultValue : JSON.stringify(o.defaultValue);
}

function optionRow(help: Help, o: Option): string {
  const choices = o.argChoices ? `; one of ${o.argChoices.map(code).join(', ')}` : '';
  const def = shownDefault(o);
  const given = o.mandatory ? 'required' : def === undefined ? '' : code(def);
  return `| ${cell(code(help.optionTerm(o)))} | ${cell(o.description + choices)} | ${cell(given)} |`;
}

/** The heading a help group prints ("Data:") as a section title ("Data"). */
export function groupTitle(heading: string): string {
  return heading.replace(/:$/, '');
}

/** The visible options of a command by help group, in `--help`'s order, without -h/--help. */
export function optionGroups(cmd: Command): Map<string, Option[]> {
  const help = cmd.createHelp();
  const visible = help.visibleOptions(cmd).filter((o) => o.long !== '--help');
  const groups = help.groupItems(cmd.options as Option[], visible, (o) => o.helpGroupHeading ?? 'Options:');
  return new Map([...groups].filter(([, options]) => options.length > 0));
}

function commandSection(cmd: Command): string[] {
  const help = cmd.createHelp();
  const out = [
    `## ${cmd.parent?.name() ?? ''} ${cmd.name()}`.replace('##  ', '## '),
    '',
    help.commandDescription(cmd),
    '',
    '```text',
    help.commandUsage(cmd),
    '```',
    '',
  ];
  const args = help.visibleArguments(cmd);
  if (args.length) {
    out.push('### Arguments', '', '| Argument | Description |', '|---|---|');
    for (const a of args) out.push(`| ${cell(code(help.argumentTerm(a)))} | ${cell(help.argumentDescription(a))} |`);
    out.push('');
  }
  for (const [heading, options] of optionGroups(cmd)) {
    out.push(`### ${groupTitle(heading)}`, '', '| Option | Description | Default |', '|---|---|---|');
    for (const o of options) out.push(optionRow(help, o));
    out.push('');
  }
  return out;
}

/** docs/cli.md for this program. */
export function cliReference(program: Command = sauronProgram()): string {
  const help = program.createHelp();
  // visibleCommands adds commander's own `help` command, which is not one of the program's
  const commands = help.visibleCommands(program).filter((c) => program.commands.includes(c));
  const out = [
    '# Command-line reference',
    '',
    `<!-- Generated from the commander definitions in src/cli/ by \`${REGENERATE}\`; do not edit by hand. -->`,
    '',
    help.commandDescription(program),
    '',
    '```text',
    `${program.name()} <command> [options]`,
    '```',
    '',
    `Every command also takes \`-h, --help\`, which prints the same options at the terminal's width. Options are grouped as ` +
      'in `--help`: the data, the model, what the command itself does, the output, and the devices and processes it runs on.',
    '',
    '| Command | What it does |',
    '|---|---|',
    ...commands.map((c) => `| [${code(c.name())}](#${program.name()}-${c.name()}) | ${cell(help.subcommandDescription(c))} |`),
    '',
  ];
  for (const c of commands) out.push(...commandSection(c));
  return out.join('\n').replace(/\n+$/, '\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = cliReference();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(CLI_MD, 'utf8');
    } catch {
      // a missing file is out of date too
    }
    if (current !== text) {
      console.error(`docs/cli.md is out of date: run \`${REGENERATE}\``);
      process.exitCode = 1;
    }
  } else {
    writeFileSync(CLI_MD, text);
    console.log(`wrote ${CLI_MD}`);
  }
}
