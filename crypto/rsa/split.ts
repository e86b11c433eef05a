/**
 * Splitting a session key's private exponent (PROTOCOL.md "Split-key RSA", steps 1-2):
 * e1 is a random 64-bit prime coprime to φ(n), d1 = e1⁻¹ mod φ(n), d2 = (d − d1) mod φ(n).
 *
 * OpenSSL's d is e⁻¹ mod λ(n), not mod φ(n); the split still works because d1 + d2 ≡ d
 * (mod φ) and λ divides φ, so m^(d1+d2) = m^d for every m in Z_n. The arithmetic here runs
 * on JavaScript bigints and is not constant-time; it runs once per session.
 */
import type { KeyObject } from 'node:crypto';
import { gcd, lcm, modInv, primeSync } from 'bigint-crypto-utils';
import { bitLength } from '../bytes.js';
import { cryptoError } from '../errors.js';
import { abigint } from './checks.js';
import { makePrivateKey } from './openssl.js';
import type { RsaPrivateKey, SplitKey } from './types.js';
import { privateKeyObject } from './validate.js';

/** Bits of the partial public exponent e1. */
export const E1_BITS = 64;
const MAX_ATTEMPTS = 64;

/** Splits `key` afresh. The result is frozen; give only `d2` to the Agent Home. */
export function splitKey(key: RsaPrivateKey): SplitKey {
  privateKeyObject(key); // checks the key (once per key object)
  const { n, d, p, q } = key;
  const phi = (p - 1n) * (q - 1n);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const e1 = primeSync(E1_BITS);
    // e1 is prime, so gcd(e1, φ) = 1 unless e1 divides φ; checked anyway, as the spec requires.
    if (bitLength(e1) !== E1_BITS || e1 === key.e || gcd(e1, phi) !== 1n) continue;
    const d1 = modInv(e1, phi);
    const d2 = (((d - d1) % phi) + phi) % phi;
    if (d2 === 0n || d1 <= 1n) continue;
    const split: SplitKey = Object.freeze({ n, e1, d1, d2, d1p: d1 % (p - 1n), d1q: d1 % (q - 1n), qi: key.qi });
    checkSplit(key, split);
    return split;
  }
  throw cryptoError('ERR_SPLIT_INVALID', 'could not find a partial exponent e1 coprime to φ(n)');
}

function bad(msg: string): never {
  throw cryptoError('ERR_SPLIT_INVALID', msg);
}

const SPLIT_FIELDS = ['n', 'e1', 'd1', 'd2', 'd1p', 'd1q', 'qi'] as const;

/**
 * Splits found consistent with a key, with the values they held then: a split object is not
 * frozen, so a later check compares the values instead of trusting the object.
 */
const checkedSplits = new WeakMap<SplitKey, { key: RsaPrivateKey; values: readonly bigint[] }>();

/** Checks that `split` belongs to `key`: e1·d1 ≡ 1 (mod φ), d1 + d2 ≡ d (mod λ), CRT values. */
export function checkSplit(key: RsaPrivateKey, split: SplitKey): void {
  if (typeof split !== 'object' || split === null) throw new TypeError('split must be an object');
  const seen = checkedSplits.get(split);
  // the same key object, frozen (as checked keys are), and the same split values: same verdict
  if (seen && seen.key === key && Object.isFrozen(key) && SPLIT_FIELDS.every((f, i) => split[f] === seen.values[i])) return;
  for (const f of SPLIT_FIELDS) abigint(split[f], `split.${f}`);
  const { n, p, q, d } = key;
  const phi = (p - 1n) * (q - 1n);
  if (split.n !== n) bad('split belongs to another modulus');
  const { e1, d1, d2 } = split;
  if (e1 <= 1n || e1 >= n || (e1 & 1n) === 0n) bad('e1 must be odd and 1 < e1 < n');
  if (d1 <= 0n || d1 >= phi || d2 <= 0n || d2 >= phi) bad('d1 and d2 must lie in (0, φ(n))');
  if ((e1 * d1) % phi !== 1n) bad('e1·d1 is not 1 modulo φ(n)');
  if ((d1 + d2 - d) % lcm(p - 1n, q - 1n) !== 0n) bad('d1 + d2 is not d modulo λ(n)');
  if (split.d1p !== d1 % (p - 1n) || split.d1q !== d1 % (q - 1n) || split.qi !== key.qi) bad('CRT values of d1 do not match');
  checkedSplits.set(split, { key, values: SPLIT_FIELDS.map((f) => split[f]) });
}

const partialKeys = new WeakMap<SplitKey, { key: RsaPrivateKey; object: KeyObject }>();

/**
 * OpenSSL private key {n, e: e1, d: d1, p, q, dp: d1p, dq: d1q, qi} for the buyer's partial
 * signatures; checked and built once per (split, key) and cached on the split object.
 */
export function partialKeyObject(key: RsaPrivateKey, split: SplitKey): KeyObject {
  const hit = partialKeys.get(split);
  if (hit && hit.key === key) return hit.object;
  privateKeyObject(key);
  checkSplit(key, split);
  const object = makePrivateKey({ n: key.n, e: split.e1, d: split.d1, p: key.p, q: key.q, dp: split.d1p, dq: split.d1q, qi: split.qi });
  partialKeys.set(split, { key, object });
  return object;
}
