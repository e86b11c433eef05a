/**
 * Consistency checks for private keys and the OpenSSL KeyObject kept for each checked key.
 *
 * A key is checked once (n = p·q, e·d ≡ 1 mod λ(n), CRT values, supported size) and its
 * KeyObject remembered in a WeakMap keyed by the key object, so later signatures skip both
 * the checks and the bigint → JWK conversion. Keys made by this module are frozen.
 * The checks use JavaScript bigints and are not constant-time; they run once per key.
 */
import type { KeyObject } from 'node:crypto';
import { lcm } from 'bigint-crypto-utils';
import { cryptoError } from '../errors.js';
import { abigint, checkModulus } from './checks.js';
import { makePrivateKey } from './openssl.js';
import type { RsaKeySize, RsaPrivateKey } from './types.js';

type KeyValues = Omit<RsaPrivateKey, 'bits'>;

const FIELDS = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const;

function invalid(msg: string): never {
  throw cryptoError('ERR_KEY_INVALID', msg);
}

/** Checks every relation of a two-prime RSA private key; returns it frozen with `bits`. */
export function checkPrivateKeyValues(v: KeyValues): RsaPrivateKey {
  // a key this function returned is frozen and was checked: checking it again (each use of a
  // restored session key did, an lcm of two 1024-bit numbers each time) would find the same
  if (checkedKeys.has(v)) return v as RsaPrivateKey;
  if (typeof v !== 'object' || v === null) throw new TypeError('private key must be an object');
  for (const f of FIELDS) abigint(v[f], `private key.${f}`);
  const { n, e, d, p, q, dp, dq, qi } = v;
  const bits = (checkModulus(n, 'private key.n') * 8) as RsaKeySize;
  if (e < 3n || e >= n || (e & 1n) === 0n) invalid('public exponent must be odd, at least 3 and below n');
  if (p <= 2n || q <= 2n || (p & 1n) === 0n || (q & 1n) === 0n || p === q) invalid('primes p and q must be distinct odd numbers');
  if (p * q !== n) invalid('n is not p·q');
  if (d <= 0n || d >= n) invalid('private exponent must satisfy 0 < d < n');
  const lambda = lcm(p - 1n, q - 1n);
  if ((e * d) % lambda !== 1n) invalid('e·d is not 1 modulo λ(n)');
  if (dp !== d % (p - 1n) || dq !== d % (q - 1n)) invalid('CRT exponents dp, dq do not match d');
  if (qi <= 0n || qi >= p || (qi * q) % p !== 1n) invalid('CRT coefficient qi is not q⁻¹ mod p');
  const checked: RsaPrivateKey = Object.freeze({ n, e, d, p, q, dp, dq, qi, bits });
  checkedKeys.add(checked);
  return checked;
}

/** The keys checkPrivateKeyValues returned (frozen, so what was checked is what they hold). */
const checkedKeys = new WeakSet<object>();

const fullKeys = new WeakMap<RsaPrivateKey, KeyObject>();

/** Registers the KeyObject OpenSSL generated for a key just checked (avoids a JWK round trip). */
export function rememberKeyObject(key: RsaPrivateKey, object: KeyObject): void {
  fullKeys.set(key, object);
}

/** The OpenSSL private key for `key`, checking the key the first time it is seen. */
export function privateKeyObject(key: RsaPrivateKey): KeyObject {
  let object = fullKeys.get(key);
  if (!object) {
    if (typeof key !== 'object' || key === null) throw new TypeError('private key must be an object');
    const checked = checkPrivateKeyValues(key);
    if (checked.bits !== key.bits) invalid('bits does not match n');
    object = makePrivateKey(checked);
    fullKeys.set(key, object);
  }
  return object;
}
