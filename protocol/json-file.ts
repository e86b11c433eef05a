/**
 * JSON files people write by hand (a buyer's rules, a store's config): each defect is told
 * as `file:line:column: what`, an unknown key is named with the closest valid one, and a
 * missing key is called missing (zod alone says "expected number, received undefined",
 * and reports the key that is missing before the misspelt one beside it).
 */
import type { z } from 'zod';
import { parleyError, type ErrorCode } from './errors.js';
import { closestWord, findKey, locatePath, positionAt, syntaxErrorOffset, type TextPosition } from './json-locate.js';
import { MAX_NESTING } from './wire.js';

const where = (file: string, p: TextPosition | undefined) => (p ? `${file}:${p.line}:${p.column}` : file);

function dotted(path: readonly PropertyKey[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('') || '(root)';
}

/** Parses the text of `file`; a syntax error is `code` at its line and column. */
export function parseJsonText(file: string, text: string, code: ErrorCode): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw parleyError(code, `${where(file, positionAt(text, syntaxErrorOffset(text, e)))}: not valid JSON: ${(e as Error).message.replace(/ in JSON at position \d+.*$/, '')}`);
  }
}

interface ZodDefLike {
  type?: string;
  shape?: Record<string, unknown>;
  element?: unknown;
  innerType?: unknown;
  in?: unknown;
  out?: unknown;
  options?: unknown[];
}

const defOf = (s: unknown): ZodDefLike => ((s as { _zod?: { def?: ZodDefLike } })?._zod?.def ?? {});

/** The object keys the schema allows at `path` (through optionals, defaults, arrays, pipes and unions). */
function keysAt(schema: unknown, path: readonly PropertyKey[], depth = 0): string[] {
  const d = defOf(schema);
  if (depth > MAX_NESTING) return [];
  if (d.innerType) return keysAt(d.innerType, path, depth + 1);
  if (d.type === 'pipe') return keysAt(d.in, path, depth + 1);
  if (d.type === 'union') return (d.options ?? []).flatMap((o) => keysAt(o, path, depth + 1));
  if (d.type === 'array') return path.length ? keysAt(d.element, path.slice(1), depth + 1) : [];
  if (d.type === 'object' && d.shape) {
    if (!path.length) return Object.keys(d.shape);
    const next = d.shape[String(path[0])];
    return next ? keysAt(next, path.slice(1), depth + 1) : [];
  }
  return [];
}

/**
 * Checks `value` (parsed from `text` of `file`) against `schema`; the first defect, unknown
 * keys first, is `code` with its position.
 */
export function checkJsonFile<S extends z.ZodType>(file: string, text: string, value: unknown, schema: S, code: ErrorCode): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues;
  const unknown = issues.find((i) => i.code === 'unrecognized_keys');
  if (unknown && unknown.code === 'unrecognized_keys') {
    const key = unknown.keys[0]!;
    const valid = keysAt(schema, unknown.path);
    const guess = closestWord(key, valid);
    const hint = guess ? ` (did you mean "${guess}"?)` : valid.length ? ` (valid keys here: ${valid.join(', ')})` : '';
    throw parleyError(code, `${where(file, locatePath(text, [...unknown.path, key], true))}: unknown key "${key}" in ${dotted(unknown.path)}${hint}`);
  }
  const issue = issues[0]!;
  const parent = issue.path.slice(0, -1);
  const last = issue.path[issue.path.length - 1];
  const isMissing = issue.code === 'invalid_type' && typeof last === 'string' && findKey(text, issue.path) === undefined;
  if (isMissing) throw parleyError(code, `${where(file, locatePath(text, parent))}: missing key "${String(last)}" in ${dotted(parent)}`);
  throw parleyError(code, `${where(file, locatePath(text, issue.path))}: ${dotted(issue.path)}: ${issue.message}`);
}
