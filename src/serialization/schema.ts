// Checking what a user's JSON file holds before anything uses it. A zod schema describes the
// file; a failure becomes one line, `<file>: <field path>: expected <what>, got <what>`, so
// nobody meets "x.reduce is not a function" three calls later.
import type { z } from 'zod';
import { readRegularFile, MIB } from './regularFile.js';

type Issue = z.core.$ZodIssue;
type Path = PropertyKey[];

/** `normalization.mean[1]`; the top level is named as such. */
export function fieldPath(path: Path): string {
  let s = '';
  for (const k of path) {
    if (typeof k === 'number') s += `[${k}]`;
    else {
      const name = String(k);
      s += /^[A-Za-z_$][\w$]*$/.test(name) ? (s ? `.${name}` : name) : `[${JSON.stringify(name)}]`;
    }
  }
  return s || 'top level';
}

/** A value as an error message shows it: short, and never the whole of a big one. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length} item${v.length === 1 ? '' : 's'}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  return String(v);
}

function valueAt(input: unknown, path: Path): unknown {
  let v = input;
  for (const k of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

const ARTICLE: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  array: 'an array',
  object: 'an object',
  tuple: 'an array',
  record: 'an object',
  null: 'null',
  bigint: 'an integer',
  nan: 'NaN',
};

/** zod's default messages start with these; any other message was written as "expected ..." by a schema. */
const DEFAULT_MESSAGE = /^(Invalid|Too small|Too big|Unrecognized)/;

function bound(i: { origin?: string; inclusive?: boolean }, value: number | bigint, below: boolean): string {
  const cmp = below ? (i.inclusive ? '>=' : '>') : i.inclusive ? '<=' : '<';
  switch (i.origin) {
    case 'array':
    case 'set':
      return `${below ? 'at least' : 'at most'} ${value} item${Number(value) === 1 ? '' : 's'}`;
    case 'string':
      return `${below ? 'at least' : 'at most'} ${value} character${Number(value) === 1 ? '' : 's'}`;
    case 'int':
      return Number(value) === Number.MAX_SAFE_INTEGER || Number(value) === -Number.MAX_SAFE_INTEGER
        ? 'a safe integer'
        : `an integer ${cmp} ${value}`;
    default:
      return `a number ${cmp} ${value}`;
  }
}

/** The deepest explanation of an issue: a union whose input matched one branch's type explains through that branch. */
function explain(issue: Issue, prefix: Path = []): { path: Path; expected: string } {
  const path = [...prefix, ...issue.path];
  const custom = !DEFAULT_MESSAGE.test(issue.message) ? issue.message.replace(/^expected\s+/, '') : null;
  switch (issue.code) {
    case 'invalid_union': {
      const branches = issue.errors.filter((e) => e.length > 0);
      const deeper = branches.map((e) => e[0]!).filter((e) => e.path.length > 0);
      if (deeper.length > 0 && issue.errors.length > 0) {
        return explain(
          deeper.reduce((a, b) => (b.path.length > a.path.length ? b : a)),
          path,
        );
      }
      if (custom) return { path, expected: custom };
      return { path, expected: [...new Set(branches.map((e) => explain(e[0]!).expected))].join(' or ') };
    }
    case 'invalid_type':
      return { path, expected: custom ?? ARTICLE[issue.expected] ?? issue.expected };
    case 'too_small':
      return { path, expected: custom ?? bound(issue, issue.minimum, true) };
    case 'too_big':
      return { path, expected: custom ?? bound(issue, issue.maximum, false) };
    case 'invalid_value':
      return {
        path,
        expected:
          custom ??
          (issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((x) => JSON.stringify(x)).join(', ')}`),
      };
    case 'unrecognized_keys':
      return { path: [...path, issue.keys[0]!], expected: 'no such field' };
    default:
      return { path, expected: custom ?? issue.message };
  }
}

/** The one line that says what is wrong with `input` (read from `file`). */
export function issueLine(file: string, issue: Issue, input: unknown): string {
  const { path, expected } = explain(issue);
  return `${file}: ${fieldPath(path)}: expected ${expected}, got ${describeValue(valueAt(input, path))}`;
}

/** `input` checked against `schema`, or an error naming the file, the field and what was expected. */
export function parseAs<S extends z.ZodType>(schema: S, input: unknown, file: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw new Error(issueLine(file, r.error.issues[0]!, input));
}

/** JSON text, or one line naming the file (JSON.parse's own message says where). */
export function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${String((e as Error).message).split('\n')[0]})`);
  }
}

/** The size a JSON file Sauron reads may have: far above any it writes, far below memory. */
export const JSON_MAX_BYTES = 64 * MIB;

/** A user's JSON file, read as a regular file of bounded size, parsed and checked against `schema`. */
export function readJsonFile<S extends z.ZodType>(file: string, schema: S, maxBytes = JSON_MAX_BYTES): z.output<S> {
  return parseAs(schema, parseJsonText(readRegularFile(file, maxBytes).toString('utf8'), file), file);
}
