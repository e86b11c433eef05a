/**
 * Raw RSA exponentiation through OpenSSL (`node:crypto` with RSA_NO_PADDING), which is far
 * faster than JavaScript bigints, plus the bounded cache of public KeyObjects.
 *
 * - `powPrivate` runs OpenSSL's private-key path: CRT, base blinding and constant-time
 *   modular exponentiation, and a built-in check of the result with the key's public
 *   exponent (OpenSSL recomputes without CRT if that check fails).
 * - `powPublic*` runs the public-key path, x^exp mod n for an arbitrary exponent. It is
 *   NOT constant-time and not blinded: fine for public exponents, a documented leak when
 *   the Agent Home uses it with its secret share d2 (see complete.ts). OpenSSL refuses
 *   exponents over 64 bits for moduli over 3072 bits (OPENSSL_RSA_MAX_PUBEXP_BITS), so
 *   those fall back to bigint-crypto-utils' `modPow` (also variable-time, ~26x slower).
 */
import { constants, createPrivateKey, createPublicKey, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import { modPow } from 'bigint-crypto-utils';
import { bigintToB64u, bitLength, byteLength, i2osp, os2ip } from '../bytes.js';

const NO_PADDING = constants.RSA_NO_PADDING;

/** Public KeyObjects kept for (n, exponent) pairs of public exponents (e, e1). */
const MAX_CACHED_PUBLIC_KEYS = 256;
const publicKeys = new Map<string, KeyObject>();

function makePublicKey(n: bigint, exp: bigint): KeyObject {
  return createPublicKey({ key: { kty: 'RSA', n: bigintToB64u(n), e: bigintToB64u(exp) }, format: 'jwk' });
}

function cachedPublicKey(n: bigint, exp: bigint): KeyObject {
  const id = `${n.toString(16)}:${exp.toString(16)}`;
  let key = publicKeys.get(id);
  if (key) {
    // refresh: Map iteration order is insertion order, so the oldest entry goes first
    publicKeys.delete(id);
  } else {
    key = makePublicKey(n, exp);
    if (publicKeys.size >= MAX_CACHED_PUBLIC_KEYS) {
      const oldest = publicKeys.keys().next().value;
      if (oldest !== undefined) publicKeys.delete(oldest);
    }
  }
  publicKeys.set(id, key);
  return key;
}

/** Whether OpenSSL's public-key path takes this exponent for this modulus. */
export function opensslTakesExponent(n: bigint, exp: bigint): boolean {
  return bitLength(n) <= 3072 || bitLength(exp) <= 64;
}

export interface PowOptions {
  /**
   * Keep the KeyObject in the bounded cache. Use for public exponents only: a secret
   * exponent (d2) is not kept in a long-lived cache.
   */
  cache: boolean;
}

/**
 * input^exp mod n where `input` is exactly k = byteLength(n) bytes with value < n; returns
 * k bytes. Callers check ranges; OpenSSL errors propagate.
 */
export function powPublicBytes(input: Uint8Array, exp: bigint, n: bigint, opts: PowOptions): Uint8Array {
  if (!opensslTakesExponent(n, exp)) return i2osp(modPow(os2ip(input), exp, n), byteLength(n));
  const key = opts.cache ? cachedPublicKey(n, exp) : makePublicKey(n, exp);
  return new Uint8Array(publicEncrypt({ key, padding: NO_PADDING }, input));
}

/** x^exp mod n for 0 ≤ x < n (bigint in, bigint out). */
export function powPublic(x: bigint, exp: bigint, n: bigint, opts: PowOptions): bigint {
  if (!opensslTakesExponent(n, exp)) return modPow(x, exp, n);
  return os2ip(powPublicBytes(i2osp(x, byteLength(n)), exp, n, opts));
}

/** CRT private key for OpenSSL; `e` must be the inverse of `d` (it is used for blinding and the fault check). */
export function makePrivateKey(v: { n: bigint; e: bigint; d: bigint; p: bigint; q: bigint; dp: bigint; dq: bigint; qi: bigint }): KeyObject {
  return createPrivateKey({
    key: {
      kty: 'RSA',
      n: bigintToB64u(v.n),
      e: bigintToB64u(v.e),
      d: bigintToB64u(v.d),
      p: bigintToB64u(v.p),
      q: bigintToB64u(v.q),
      dp: bigintToB64u(v.dp),
      dq: bigintToB64u(v.dq),
      qi: bigintToB64u(v.qi),
    },
    format: 'jwk',
  });
}

/** input^d mod n by OpenSSL's private-key path (CRT, blinded, constant-time); k bytes in and out. */
export function powPrivate(key: KeyObject, input: Uint8Array): Uint8Array {
  return new Uint8Array(privateDecrypt({ key, padding: NO_PADDING }, input));
}
