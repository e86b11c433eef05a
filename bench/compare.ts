/**
 * `npm run bench -- --compare A.json B.json`: every numeric figure present in both result
 * files (the `figures` of writeResults, walked to its leaves) with both values and B/A.
 * A file that is missing, is not JSON or has no `figures` is a usage error (exit 2).
 */
import { readFileSync } from 'node:fs';
import { table } from './lib.js';

export class CompareError extends Error {}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(v: Json): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function load(file: string): { bench: string; figures: Json } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CompareError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch (e) {
    throw new CompareError(`${file} is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc) || !('figures' in doc)) throw new CompareError(`${file} is not a benchmark result (no "figures")`);
  return { bench: typeof doc.bench === 'string' ? doc.bench : '?', figures: doc.figures! };
}

/**
 * How an array element is named in a path: by its text fields (and `bits`, which tells the
 * crypto rows of one op apart), so that rows line up by what they are rather than by
 * position; by position when that gives no name or the same name twice.
 */
function elementLabels(arr: Json[]): string[] {
  const names = arr.map((el) => {
    if (!isObject(el)) return '';
    const parts = Object.values(el).filter((v): v is string => typeof v === 'string');
    if (typeof el.bits === 'number') parts.push(`${el.bits} bits`);
    return parts.join(' ');
  });
  const unique = names.every((n, i) => n !== '' && names.indexOf(n) === i);
  return unique ? names : arr.map((_, i) => `#${i}${names[i] ? ` ${names[i]}` : ''}`);
}

/** Every numeric leaf under `v`, by path. */
export function numericLeaves(v: Json, path = '', out = new Map<string, number>()): Map<string, number> {
  if (typeof v === 'number') {
    if (Number.isFinite(v)) out.set(path || '(figures)', v);
  } else if (Array.isArray(v)) {
    const labels = elementLabels(v);
    v.forEach((el, i) => numericLeaves(el, `${path}[${labels[i]}]`, out));
  } else if (isObject(v)) {
    for (const [k, el] of Object.entries(v)) numericLeaves(el, path ? `${path}.${k}` : k, out);
  }
  return out;
}

function fmt(x: number): string {
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  return a >= 1000 ? x.toFixed(0) : a >= 1 ? x.toFixed(3) : x.toPrecision(4);
}

/** Prints the comparison table; throws CompareError for unusable files. */
export function compare(fileA: string, fileB: string): void {
  const a = load(fileA);
  const b = load(fileB);
  const la = numericLeaves(a.figures);
  const lb = numericLeaves(b.figures);
  const rows = [...la].filter(([p]) => lb.has(p)).map(([p, va]) => {
    const vb = lb.get(p)!;
    return [p, fmt(va), fmt(vb), va === 0 ? (vb === 0 ? '1.000' : '-') : (vb / va).toFixed(3)];
  });
  console.log(`A: ${fileA} (${a.bench})`);
  console.log(`B: ${fileB} (${b.bench})`);
  if (rows.length === 0) {
    console.log('no numeric figure is present in both files');
    return;
  }
  console.log(table([['figure', 'A', 'B', 'B/A'], ...rows]));
  const onlyOne = la.size + lb.size - 2 * rows.length;
  if (onlyOne > 0) console.log(`(${onlyOne} figure(s) present in only one file left out)`);
}
