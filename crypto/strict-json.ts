/**
 * The one JSON parser for everything Parley reads from outside (wire messages, JWS
 * envelopes and protected headers, files): `JSON.parse` plus a refusal of duplicate keys.
 *
 * `JSON.parse` keeps the last of two equal keys, so `{"price":1,"price":1050}` reads as
 * 1050 to us while a person (or another parser, which may keep the first) reads 1. RFC 8259
 * §4 leaves the meaning of such a text open and I-JSON (RFC 7493 §2.3) forbids it; we
 * refuse it at any depth with ERR_JSON_DUPLICATE_KEY.
 *
 * The native parser checks the syntax and builds the value; then one scan of the (now
 * known valid) text follows its objects and compares the keys of each. Keys are compared
 * after unescaping, so "a" and "\u0061" are the same key. The scan skips over string
 * values with `indexOf`, so it costs a small part of the parse itself.
 */
import { cryptoError } from './errors.js';

// a leading byte-order mark is dropped, as before (JWS payloads refuse one themselves, crypto/jws.ts)
const decoder = new TextDecoder('utf-8', { fatal: true });

interface Frame {
  object: boolean;
  /** objects: the keys seen so far (made on the second key) */
  keys?: Set<string>;
  first?: string;
  /** objects: the next string is a key */
  expectKey: boolean;
  /** for the error message: the current key, or the current index of an array */
  at: string | number;
}

function pathOf(stack: Frame[]): string {
  let p = '$';
  for (const f of stack) p += f.object ? `.${String(f.at)}` : `[${String(f.at)}]`;
  return p;
}

/** Index of the quote that closes the string opening at `open`. */
function stringEnd(text: string, open: number): number {
  let from = open + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    // an escaped quote has an odd number of backslashes right before it
    let b = q - 1;
    while (text.charCodeAt(b) === 0x5c) b--;
    if ((q - 1 - b) % 2 === 0) return q;
    from = q + 1;
  }
}

/** Throws ERR_JSON_DUPLICATE_KEY when an object of the valid JSON `text` repeats a key. */
function refuseDuplicateKeys(text: string): void {
  const stack: Frame[] = [];
  let top: Frame | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = stringEnd(text, i);
      if (top?.object && top.expectKey) {
        const raw = text.slice(i + 1, end);
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (top.first === undefined) top.first = key;
        else {
          top.keys ??= new Set([top.first]);
          if (top.keys.has(key)) throw cryptoError('ERR_JSON_DUPLICATE_KEY', `duplicate key ${JSON.stringify(key)} in the object at ${pathOf(stack)}`);
          top.keys.add(key);
        }
        top.expectKey = false;
        top.at = key;
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      if (top) stack.push(top);
      top = { object: c === 0x7b, expectKey: true, at: c === 0x7b ? '' : 0 };
    } else if (c === 0x7d || c === 0x5d) {
      top = stack.pop();
    } else if (c === 0x2c && top) {
      if (top.object) top.expectKey = true;
      else top.at = (top.at as number) + 1;
    }
  }
}

/**
 * Parses JSON text, refusing duplicate keys. Errors: ERR_INVALID_INPUT (not JSON, with the
 * SyntaxError as cause), ERR_JSON_DUPLICATE_KEY.
 */
export function parseStrictJson(text: string): unknown {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw cryptoError('ERR_INVALID_INPUT', 'not JSON text', e);
  }
  // objects can only repeat keys when there are objects with two keys at least
  if (typeof value === 'object' && value !== null && text.includes(',')) refuseDuplicateKeys(text);
  return value;
}

/**
 * UTF-8 bytes → JSON value: strict UTF-8 (a leading byte-order mark is dropped), then
 * `parseStrictJson`. Errors: ERR_ENCODING, ERR_INVALID_INPUT, ERR_JSON_DUPLICATE_KEY.
 */
export function parseStrictJsonBytes(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch (e) {
    throw cryptoError('ERR_ENCODING', 'not UTF-8 text', e);
  }
  return parseStrictJson(text);
}
