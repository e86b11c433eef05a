/**
 * RFC 8785 (JCS) canonical JSON. Everything Parley signs or hashes goes through here, so
 * the input is checked first: only plain JSON values (no undefined, functions, bigints,
 * NaN/Infinity, class instances or cycles) are accepted, and nesting is bounded. Strings
 * and keys with lone UTF-16 surrogates are refused too: RFC 8785 §3.1 requires I-JSON
 * (RFC 7493 §2.1), and such strings have no UTF-8 form.
 */
import canonicalize from 'canonicalize';
import { cryptoError } from './errors.js';
import { utf8 } from './bytes.js';

export const MAX_JSON_DEPTH = 32;

/** A plain JSON value, the only input `canonicalJson` accepts. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

// With the `u` flag a paired surrogate is one code point, so this matches lone ones only.
const LONE_SURROGATE = /\p{Cs}/u;

function checkString(s: string): void {
  if (LONE_SURROGATE.test(s)) throw cryptoError('ERR_INVALID_INPUT', 'JSON strings must not contain lone surrogates');
}

function check(value: unknown, depth: number, seen: Set<object>): void {
  if (depth > MAX_JSON_DEPTH) throw cryptoError('ERR_INVALID_INPUT', `JSON nesting deeper than ${MAX_JSON_DEPTH}`);
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'string') return checkString(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw cryptoError('ERR_INVALID_INPUT', 'JSON numbers must be finite');
    return;
  }
  if (typeof value !== 'object') throw cryptoError('ERR_INVALID_INPUT', `${typeof value} is not a JSON value`);
  if (seen.has(value)) throw cryptoError('ERR_INVALID_INPUT', 'JSON value contains a cycle');
  seen.add(value);
  if (Array.isArray(value)) {
    for (const v of value) check(v, depth + 1, seen);
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw cryptoError('ERR_INVALID_INPUT', 'only plain objects are JSON');
    for (const [k, v] of Object.entries(value)) {
      checkString(k);
      check(v, depth + 1, seen);
    }
  }
  seen.delete(value);
}

/** Canonical JSON text of a plain JSON value (RFC 8785). */
export function canonicalJson(value: unknown): string {
  check(value, 0, new Set());
  const text = canonicalize(value);
  if (text === undefined) throw cryptoError('ERR_INVALID_INPUT', 'value has no JSON form');
  return text;
}

/** UTF-8 bytes of the canonical JSON text. */
export function canonicalBytes(value: unknown): Uint8Array {
  return utf8(canonicalJson(value));
}
