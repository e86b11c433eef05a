/**
 * RFC 8785 (JCS) canonical JSON. Everything Parley signs or hashes goes through here, so
 * the input is checked first: only plain JSON values (no undefined, functions, bigints,
 * NaN/Infinity, class instances or cycles) are accepted, and nesting is bounded. Strings
 * and keys with lone UTF-16 surrogates are refused too: RFC 8785 §3.1 requires I-JSON
 * (RFC 7493 §2.1), and such strings have no UTF-8 form.
 */
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

// Characters JSON.stringify escapes, plus every surrogate: a string without any is written
// as it is between quotes (most keys and values), the rest goes the long way.
const NEEDS_CARE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A JSON string literal as RFC 8785 §3.2.2.2 (= JSON.stringify) writes it; refuses lone surrogates. */
function quote(s: string): string {
  if (!NEEDS_CARE.test(s)) return '"' + s + '"';
  checkString(s);
  return JSON.stringify(s);
}

/**
 * Object keys quoted before: the same few dozen keys (`sig`, `body`, `price`…) come back in
 * every signed or hashed object, and a look-up costs less than the scan for characters to
 * escape. Bounded in count and key length, so hostile input cannot grow it: past the count
 * it starts again empty.
 */
const QUOTED_KEYS_MAX = 2048;
const QUOTED_KEY_MAX_LENGTH = 64;
const quotedKeys = new Map<string, string>();

function quoteKey(k: string): string {
  let q = quotedKeys.get(k);
  if (q === undefined) {
    q = quote(k);
    if (k.length <= QUOTED_KEY_MAX_LENGTH) {
      if (quotedKeys.size >= QUOTED_KEYS_MAX) quotedKeys.clear();
      quotedKeys.set(k, q);
    }
  }
  return q;
}

/**
 * Sorts keys by UTF-16 code units, as the default `sort` does (and as `<` compares strings).
 * Objects here mostly have a handful of keys, where an insertion sort in place costs a
 * fraction of what the general sort does; larger ones still go to `sort`.
 */
function sortKeys(keys: string[]): string[] {
  const n = keys.length;
  if (n > 12) return keys.sort();
  for (let i = 1; i < n; i++) {
    const k = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > k; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = k;
  }
  return keys;
}

/**
 * Checks and serialises in one pass (RFC 8785 §3.2): keys sorted by UTF-16 code units
 * (`sortKeys`), strings and numbers as ECMAScript's JSON.stringify writes them (§3.2.2).
 * `path` holds the objects above `value`, so a cycle is refused while a shared, acyclic
 * sub-object is not; it is at most MAX_JSON_DEPTH long. The `canonicalize` package is the
 * independent reference the tests compare this with.
 */
function serialize(value: unknown, depth: number, path: object[]): string {
  if (depth > MAX_JSON_DEPTH) throw cryptoError('ERR_INVALID_INPUT', `JSON nesting deeper than ${MAX_JSON_DEPTH}`);
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      if (!Number.isFinite(value)) throw cryptoError('ERR_INVALID_INPUT', 'JSON numbers must be finite');
      // for a finite number JSON.stringify gives Number::toString (−0 becomes "0" either way)
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      throw cryptoError('ERR_INVALID_INPUT', `${typeof value} is not a JSON value`);
  }
  if (value === null) return 'null';
  if (path.includes(value)) throw cryptoError('ERR_INVALID_INPUT', 'JSON value contains a cycle');
  path.push(value);
  let out: string;
  if (Array.isArray(value)) {
    out = '[';
    // a hole reads as undefined and is refused like it
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + serialize(value[i], depth + 1, path);
    out += ']';
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw cryptoError('ERR_INVALID_INPUT', 'only plain objects are JSON');
    const o = value as Record<string, unknown>;
    const keys = sortKeys(Object.keys(o));
    out = '{';
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      out += (i === 0 ? '' : ',') + quoteKey(k) + ':' + serialize(o[k], depth + 1, path);
    }
    out += '}';
  }
  path.pop();
  return out;
}

/** Canonical JSON text of a plain JSON value (RFC 8785). */
export function canonicalJson(value: unknown): string {
  return serialize(value, 0, []);
}

/** UTF-8 bytes of the canonical JSON text. */
export function canonicalBytes(value: unknown): Uint8Array {
  return utf8(canonicalJson(value));
}
