/**
 * Argument checks shared by the RSA modules. A wrong JavaScript type is a programmer error
 * (`TypeError`); a value of the right type outside its range is bad data (`ParleyError`
 * with ERR_KEY_SIZE, ERR_KEY_INVALID or ERR_RANGE). Messages name the argument, never its
 * value, so secrets cannot leak into logs through an error.
 */
import { bitLength, byteLength, os2ip } from '../bytes.js';
import { cryptoError } from '../errors.js';
import { RSA_KEY_SIZES, type RsaKeySize, type RsaPublicKey } from './types.js';

export function abigint(x: unknown, name: string): asserts x is bigint {
  if (typeof x !== 'bigint') throw new TypeError(`${name} must be a bigint`);
}

export function abytes(x: unknown, name: string): asserts x is Uint8Array {
  if (!(x instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
}

export function isKeySize(bits: number): bits is RsaKeySize {
  return (RSA_KEY_SIZES as readonly number[]).includes(bits);
}

/** Modulus length in bytes after checking that n is a supported, odd modulus. */
export function checkModulus(n: unknown, name = 'n'): number {
  abigint(n, name);
  const bits = n > 0n ? bitLength(n) : 0;
  if (!isKeySize(bits)) {
    throw cryptoError('ERR_KEY_SIZE', `${name} has ${bits} bits; RSA moduli must have ${RSA_KEY_SIZES.join(', ')} bits`);
  }
  if ((n & 1n) === 0n) throw cryptoError('ERR_KEY_INVALID', `${name} is even`);
  return bits / 8;
}

/** Checks {n, e}; returns the modulus length k in bytes. */
export function checkPublicKey(pub: unknown, name = 'public key'): number {
  if (typeof pub !== 'object' || pub === null) throw new TypeError(`${name} must be an object {n, e}`);
  const { n, e } = pub as Partial<RsaPublicKey>;
  const k = checkModulus(n, `${name}.n`);
  abigint(e, `${name}.e`);
  if (e < 3n || e >= n! || (e & 1n) === 0n) throw cryptoError('ERR_KEY_INVALID', `${name}.e must be odd, at least 3 and below n`);
  return k;
}

/** An exponent that is used as a public exponent: odd, 1 < x < n. */
export function checkOddExponent(x: unknown, n: bigint, name: string): asserts x is bigint {
  abigint(x, name);
  if (x <= 1n || x >= n || (x & 1n) === 0n) throw cryptoError('ERR_RANGE', `${name} must be odd and 1 < ${name} < n`);
}

/** A secret exponent share: 0 < x < n. */
export function checkExponentShare(x: unknown, n: bigint, name: string): asserts x is bigint {
  abigint(x, name);
  if (x <= 0n || x >= n) throw cryptoError('ERR_RANGE', `${name} must satisfy 0 < ${name} < n`);
}

/**
 * A message representative: 1 < m < n − 1. 0, 1 and n − 1 are fixed points of every
 * exponent (a "signature" on them proves nothing), and no PKCS#1 encoding is one of them.
 */
export function checkRepresentative(m: unknown, n: bigint, name = 'm'): asserts m is bigint {
  abigint(m, name);
  if (m <= 1n || m >= n - 1n) throw cryptoError('ERR_RANGE', `${name} must satisfy 1 < ${name} < n − 1`);
}

/** A (partial) signature as k bytes whose value satisfies 0 < s < n; throws ERR_RANGE. */
export function signatureValue(sig: unknown, n: bigint, name: string): bigint {
  abytes(sig, name);
  const k = byteLength(n);
  if (sig.length !== k) throw cryptoError('ERR_RANGE', `${name} must be ${k} bytes, got ${sig.length}`);
  const s = os2ip(sig);
  if (s <= 0n || s >= n) throw cryptoError('ERR_RANGE', `${name} must satisfy 0 < ${name} < n`);
  return s;
}

/** Non-throwing variant for verifiers: undefined when the signature is malformed. */
export function signatureValueOrUndefined(sig: unknown, n: bigint): bigint | undefined {
  if (!(sig instanceof Uint8Array) || sig.length !== byteLength(n)) return undefined;
  const s = os2ip(sig);
  return s > 0n && s < n ? s : undefined;
}
