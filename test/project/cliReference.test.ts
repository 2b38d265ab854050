// docs/cli.md is generated from the commander definitions (scripts/cli-reference.ts) and must
// match them; `--help` must read cleanly at any width: no hard line breaks in descriptions
// (commander wraps them itself, and a break inside its wrapping prints ragged lines) and no
// line past the terminal's width.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { sauronProgram } from '../../src/cli/program.js';
import { CLI_MD, cliReference, groupTitle, optionGroups, REGENERATE } from '../../scripts/cli-reference.js';
import { sauron } from '../support/cli.js';

const program = sauronProgram();
const commands = program.commands;

/** `--help` of a command as a terminal `width` columns wide prints it. */
function helpAt(cmd: Command, width: number): string {
  const help = cmd.createHelp();
  help.prepareContext({ helpWidth: width });
  return help.formatHelp(cmd, help);
}

/** The option groups and option terms a `--help` text lists, in order (-h, --help left out). */
function helpOutline(text: string): string[] {
  const out: string[] = [];
  let group = '';
  for (const line of text.split('\n')) {
    const heading = /^(\S.*):$/.exec(line);
    if (heading) group = heading[1]!;
    const term = /^ {2}(-\S.*?)(?: {2,}|$)/.exec(line);
    if (term && term[1] !== '-h, --help') out.push(`${group}: ${term[1]}`);
  }
  return out;
}

/** The same outline of one command's section of docs/cli.md. */
function docOutline(doc: string, name: string): string[] {
  const section = doc.split(/^## /m).find((s) => s.startsWith(`sauron ${name}\n`));
  assert.ok(section, `docs/cli.md has no section for sauron ${name}`);
  const out: string[] = [];
  let group = '';
  for (const line of section.split('\n')) {
    const heading = /^### (.*)$/.exec(line);
    if (heading) group = heading[1]!;
    const row = /^\| `([^`]+)` \|/.exec(line);
    if (row && group !== 'Arguments') out.push(`${group}: ${row[1]}`);
  }
  return out;
}

test('docs/cli.md is what scripts/cli-reference.ts generates from the commands now', () => {
  const current = readFileSync(CLI_MD, 'utf8');
  assert.ok(current === cliReference(sauronProgram()), `docs/cli.md is out of date: regenerate it with \`${REGENERATE}\``);
});

test('the generated reference does not depend on the terminal width', () => {
  const columns = process.stdout.columns;
  try {
    Object.defineProperty(process.stdout, 'columns', { value: 37, configurable: true });
    const narrow = cliReference(sauronProgram());
    Object.defineProperty(process.stdout, 'columns', { value: 211, configurable: true });
    assert.equal(cliReference(sauronProgram()), narrow);
  } finally {
    Object.defineProperty(process.stdout, 'columns', { value: columns, configurable: true });
  }
});

test('docs/cli.md lists every command, and each option under the group --help shows it in', () => {
  const doc = readFileSync(CLI_MD, 'utf8');
  assert.deepEqual(
    [...doc.matchAll(/^## sauron (\S+)$/gm)].map((m) => m[1]),
    commands.map((c) => c.name()),
  );
  for (const cmd of commands) {
    const listed = helpOutline(helpAt(cmd, 80));
    assert.ok(listed.length > 0, cmd.name());
    assert.deepEqual(docOutline(doc, cmd.name()), listed, `sauron ${cmd.name()}`);
    // the groups come from commander itself, so the check above compares like with like
    assert.deepEqual([...optionGroups(cmd).keys()].map(groupTitle), [...new Set(listed.map((l) => l.split(': ')[0]))]);
  }
});

test('bin/sauron.js prints the help of this program', () => {
  // not a terminal: commander wraps at 80 columns
  for (const args of [['--help'], ['attack', '--help'], ['train', '--help'], ['launch', '--help']]) {
    const r = sauron(args);
    assert.equal(r.status, 0, r.stderr);
    const cmd = args.length > 1 ? commands.find((c) => c.name() === args[0])! : program;
    assert.equal(r.stdout, helpAt(cmd, 80), args.join(' '));
  }
});

test('no command or option description holds a hard line break', () => {
  for (const cmd of [program, ...commands]) {
    const where = cmd === program ? 'sauron' : `sauron ${cmd.name()}`;
    assert.ok(!/[\r\n]/.test(cmd.description()), `${where}: description`);
    assert.ok(!/[\r\n]/.test(cmd.summary()), `${where}: summary`);
    for (const a of cmd.registeredArguments) assert.ok(!/[\r\n]/.test(a.description), `${where} ${a.name()}`);
    for (const o of cmd.options) assert.ok(!/[\r\n]/.test(o.description), `${where} ${o.flags}`);
  }
});

test('every command lists a short summary in the top-level help', () => {
  for (const cmd of commands) {
    assert.ok(cmd.summary().length > 0 && cmd.summary().length <= 80, `sauron ${cmd.name()}: summary '${cmd.summary()}'`);
    assert.ok(cmd.description().length >= cmd.summary().length, `sauron ${cmd.name()}`);
  }
});

test('--help of every command fits 60, 80 and 120 columns', () => {
  for (const width of [60, 80, 120]) {
    for (const cmd of [program, ...commands]) {
      const lines = helpAt(cmd, width).split('\n');
      const long = lines.filter((l) => l.length > width);
      assert.deepEqual(long, [], `sauron ${cmd === program ? '' : `${cmd.name()} `}--help at ${width} columns`);
      // wrapped, not ragged: a description goes on to the next line only where its next word would not fit
      for (let i = 0; i + 1 < lines.length; i++) {
        const here = lines[i]!;
        const next = lines[i + 1]!;
        const continues = here.trim() && next.trim() && !here.startsWith('Usage:') && !/^ {2}\S/.test(next) && !/^\S.*:$/.test(next);
        if (!continues) continue;
        const word = next.trim().split(/\s/)[0]!;
        assert.ok(
          here.length + 1 + word.length > width,
          `sauron ${cmd === program ? '' : `${cmd.name()} `}--help at ${width} columns breaks early after '${here.trim()}'`,
        );
      }
    }
  }
});
