// The documentation stays usable: the README is a landing page (at most 12 KB), every relative
// link in the README and the guides (docs/*.md; docs/api is TypeDoc's) reaches an existing file
// and, with #anchor, an existing heading (GitHub's slugs), and every option of a `sauron
// <command>` line in a code block exists on that command (the program sauron runs, as
// scripts/cli-reference.ts builds it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { sauronProgram } from '../../src/cli/program.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const README = join(ROOT, 'README.md');
const README_MAX_BYTES = 12_288;

/** README.md and the guides directly under docs/ (not docs/api/, which TypeDoc generates). */
function pages(): string[] {
  const docs = join(ROOT, 'docs');
  return [
    README,
    ...readdirSync(docs)
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => join(docs, f)),
  ];
}

/** The text with fenced code blocks blanked (their lines kept, so line numbers stay right). */
function withoutFences(text: string): string {
  let inFence = false;
  return text
    .split('\n')
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        inFence = !inFence;
        return '';
      }
      return inFence ? '' : line;
    })
    .join('\n');
}

/** The shell code blocks of a page (```sh, bash, shell or console), each as its text. */
function shellBlocks(text: string): string[] {
  const out: string[] = [];
  let cur: string[] | null = null;
  let shell = false;
  for (const line of text.split('\n')) {
    const fence = /^\s*(?:```|~~~)\s*(\S*)/.exec(line);
    if (fence) {
      if (cur) {
        if (shell) out.push(cur.join('\n'));
        cur = null;
      } else {
        cur = [];
        shell = /^(sh|bash|shell|console)$/.test(fence[1]!);
      }
    } else cur?.push(line);
  }
  return out;
}

/** GitHub's anchor for a heading's text (github-slugger: lower case, punctuation dropped, spaces to hyphens). */
export function slug(heading: string): string {
  const plain = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images keep their text
    .replace(/<[^>]+>/g, '');
  return plain
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a page's headings give, with GitHub's -1, -2 ... for repeats. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of withoutFences(text).split('\n')) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** Every link and image target of a page outside code: [text](target) and ![alt](target), with its line. */
function links(text: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  withoutFences(text)
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.replace(/`[^`]*`/g, '``');
      for (const m of line.matchAll(/!?\[(?:[^\][]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
        out.push({ target: m[1]!, line: i + 1 });
    });
  return out;
}

test('slug follows GitHub on the headings these pages use', () => {
  assert.equal(slug("`sauron reproduce --quick` (the README's first command)"), 'sauron-reproduce---quick-the-readmes-first-command');
  assert.equal(
    slug('Attack: PGD restarts and k-NS rows per step on the CPU (2026-11-26, 2026-11-27)'),
    'attack-pgd-restarts-and-k-ns-rows-per-step-on-the-cpu-2026-11-26-2026-11-27',
  );
  assert.equal(slug('Checks: an evaluation you can trust'), 'checks-an-evaluation-you-can-trust');
  assert.deepEqual([...anchors('# A\n\n## A\n\n```sh\n# not a heading\n```\n')], ['a', 'a-1']);
});

test(`README.md is a landing page of at most ${README_MAX_BYTES} bytes`, () => {
  const bytes = statSync(README).size;
  assert.ok(bytes <= README_MAX_BYTES, `README.md has ${bytes} bytes, at most ${README_MAX_BYTES}: move detail into a guide under docs/`);
});

test('every relative link in README.md and docs/*.md reaches an existing file and heading', () => {
  const problems: string[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = (file: string) => {
    if (!anchorCache.has(file)) anchorCache.set(file, anchors(readFileSync(file, 'utf8')));
    return anchorCache.get(file)!;
  };
  let checked = 0;
  for (const page of pages()) {
    const where = (line: number) => `${page.slice(ROOT.length + 1)}:${line}`;
    for (const { target, line } of links(readFileSync(page, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto: ...
      checked++;
      const [path, anchor] = target.split('#', 2) as [string, string | undefined];
      const file = path ? resolve(dirname(page), decodeURIComponent(path)) : page;
      if (!file.startsWith(ROOT)) {
        problems.push(`${where(line)}: ${target} leaves the repository`);
        continue;
      }
      if (!existsSync(file)) {
        problems.push(`${where(line)}: ${target}: ${file.slice(ROOT.length + 1)} does not exist`);
        continue;
      }
      if (anchor !== undefined) {
        if (!file.endsWith('.md')) problems.push(`${where(line)}: ${target}: an anchor into a file that is not Markdown`);
        else if (!anchorsOf(file).has(anchor))
          problems.push(`${where(line)}: ${target}: ${file.slice(ROOT.length + 1)} has no heading #${anchor}`);
      }
    }
  }
  assert.ok(checked > 20, `only ${checked} relative links found: the link pattern no longer matches`);
  assert.deepEqual(problems, []);
});

/** Each `sauron <command> --flag ...` in a code block: the command and the flags given to it. */
export function commandLines(code: string): { command: string; flags: string[]; line: string }[] {
  const out: { command: string; flags: string[]; line: string }[] = [];
  for (const raw of code.replace(/\\\n\s*/g, ' ').split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, ''); // shell comments
    for (const segment of line.split(/&&|\|\||;|\|/)) {
      const m = /(?:^|\s)sauron\s+(.*)$/.exec(segment);
      if (!m) continue;
      const words = m[1]!.trim().split(/\s+/);
      let current: { command: string; flags: string[]; line: string } | null = null;
      for (let i = 0; i < words.length; i++) {
        const w = words[i]!;
        if (i === 0 && !w.startsWith('-')) {
          current = { command: w, flags: [], line: raw.trim() };
          out.push(current);
        } else if (i === 0) {
          current = { command: '', flags: [w], line: raw.trim() };
          out.push(current);
        } else if (w === '--') {
          // sauron launch ... -- COMMAND ...: what follows is another sauron command's
          const next = words[i + 1];
          if (next && !next.startsWith('-')) {
            current = { command: next, flags: [], line: raw.trim() };
            out.push(current);
            i++;
          } else current = null;
        } else if (current && /^--?[A-Za-z]/.test(w)) current.flags.push(w.split('=')[0]!);
      }
    }
  }
  return out;
}

test('commandLines reads commands, flags, continuations and launch', () => {
  const c = commandLines(
    'npx sauron attack --model m \\\n  --norm l2 --eps=0.3   # --not-a-flag\nnpx sauron launch --nproc 2 -- train --out r && echo',
  );
  assert.deepEqual(
    c.map((x) => [x.command, x.flags]),
    [
      ['attack', ['--model', '--norm', '--eps']],
      ['launch', ['--nproc']],
      ['train', ['--out']],
    ],
  );
});

function optionNames(cmd: Command): Set<string> {
  const names = new Set<string>(['--help', '-h']);
  for (const o of cmd.options) {
    if (o.long) names.add(o.long);
    if (o.short) names.add(o.short);
  }
  return names;
}

test('every `sauron <command>` option in the shell code blocks of README.md and docs/*.md exists on that command', () => {
  const program = sauronProgram();
  const commands = new Map(program.commands.map((c) => [c.name(), c]));
  const problems: string[] = [];
  let readmeLines = 0;
  for (const page of pages()) {
    const name = page.slice(ROOT.length + 1);
    for (const block of shellBlocks(readFileSync(page, 'utf8'))) {
      for (const { command, flags, line } of commandLines(block)) {
        if (page === README) readmeLines++;
        if (command === '') {
          for (const f of flags)
            if (!optionNames(program).has(f) && f !== '--version') problems.push(`${name}: sauron ${f}: not an option of sauron (${line})`);
          continue;
        }
        const cmd = commands.get(command);
        if (!cmd) {
          problems.push(`${name}: sauron ${command}: no such command (${line})`);
          continue;
        }
        const known = optionNames(cmd);
        for (const f of flags) if (!known.has(f)) problems.push(`${name}: sauron ${command} ${f}: no such option (${line})`);
      }
    }
  }
  assert.ok(readmeLines >= 2, `found ${readmeLines} sauron command lines in README.md's code blocks: the pattern no longer matches`);
  assert.deepEqual(problems, []);
});
