/**
 * Byte helpers shared by the crypto modules: encodings, concatenation, constant-time
 * comparison and big-endian integer conversion (RFC 8017 §4 I2OSP / OS2IP).
 */
import { timingSafeEqual } from 'node:crypto';
import { cryptoError } from './errors.js';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function utf8(s: string): Uint8Array {
  return enc.encode(s);
}

export function fromUtf8(b: Uint8Array): string {
  try {
    return dec.decode(b);
  } catch (e) {
    throw cryptoError('ERR_ENCODING', 'bytes are not valid UTF-8', e);
  }
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Constant-time equality for secrets and MACs; false on length mismatch. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

const B64URL = /^[A-Za-z0-9_-]*$/;

export function toB64u(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

/** Strict base64url decoding: rejects padding, other alphabets and non-canonical tails. */
export function fromB64u(s: string, what = 'value'): Uint8Array {
  if (typeof s !== 'string' || !B64URL.test(s) || s.length % 4 === 1) {
    throw cryptoError('ERR_ENCODING', `${what} is not base64url`);
  }
  const out = new Uint8Array(Buffer.from(s, 'base64url'));
  if (toB64u(out) !== s) throw cryptoError('ERR_ENCODING', `${what} is not canonical base64url`);
  return out;
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: string, what = 'value'): Uint8Array {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw cryptoError('ERR_ENCODING', `${what} is not hex`);
  }
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** OS2IP: big-endian bytes to a non-negative integer. */
export function os2ip(b: Uint8Array): bigint {
  if (b.length === 0) return 0n;
  return BigInt('0x' + toHex(b));
}

/** I2OSP: integer to exactly `len` big-endian bytes; ERR_RANGE when it does not fit. */
export function i2osp(x: bigint, len: number): Uint8Array {
  if (x < 0n) throw cryptoError('ERR_RANGE', 'integer is negative');
  const hex = x.toString(16);
  if (hex.length > len * 2) throw cryptoError('ERR_RANGE', `integer too large for ${len} bytes`);
  return fromHex(hex.padStart(len * 2, '0'));
}

/** Minimal big-endian bytes of a positive integer (as in JWK members). */
export function bigintToBytes(x: bigint): Uint8Array {
  if (x < 0n) throw cryptoError('ERR_RANGE', 'integer is negative');
  const hex = x.toString(16);
  return fromHex(hex.length % 2 ? '0' + hex : hex);
}

/** bigint as JWK-style base64url (minimal big-endian). */
export function bigintToB64u(x: bigint): string {
  return toB64u(bigintToBytes(x));
}

/** base64url to bigint; rejects leading zero bytes so each integer has one encoding. */
export function b64uToBigint(s: string, what = 'integer'): bigint {
  const b = fromB64u(s, what);
  if (b.length === 0 || (b.length > 1 && b[0] === 0)) {
    throw cryptoError('ERR_ENCODING', `${what} is not a minimal big-endian integer`);
  }
  return os2ip(b);
}

export function byteLength(n: bigint): number {
  return Math.ceil(n.toString(2).length / 8);
}

export function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}
