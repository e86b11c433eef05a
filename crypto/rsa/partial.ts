/**
 * Partial signatures (PROTOCOL.md "Split-key RSA" step 4): the buyer's SG1 = m^d1 mod n
 * and anyone's check SG1^e1 ≡ m (mod n) with the e1 from the voucher.
 *
 * SG1 is computed by OpenSSL's private-key path (CRT with p, q, blinded, constant-time);
 * the check uses the public-key path with the 64-bit public exponent e1.
 */
import { byteLength, equalBytes, i2osp } from '../bytes.js';
import { abytes, checkOddExponent, checkPublicKey, checkRepresentative, signatureValueOrUndefined } from './checks.js';
import { powPrivate, powPublicBytes } from './openssl.js';
import { representative } from './pkcs1.js';
import { partialKeyObject } from './split.js';
import type { RsaPrivateKey, RsaPublicKey, SplitKey } from './types.js';

/** SG1 = m^d1 mod n as k bytes. Throws ERR_RANGE unless 1 < m < n − 1, ERR_SPLIT_INVALID / ERR_KEY_INVALID for bad keys. */
export function partialSign(key: RsaPrivateKey, split: SplitKey, m: bigint): Uint8Array {
  const object = partialKeyObject(key, split);
  checkRepresentative(m, key.n);
  return powPrivate(object, i2osp(m, byteLength(key.n)));
}

/**
 * Whether SG1^e1 ≡ m (mod n). `sg1` is the other party's data: anything malformed (not
 * k bytes, 0, ≥ n) gives false. `pub`, `e1` and `m` are the caller's own values and throw
 * (ERR_KEY_SIZE / ERR_KEY_INVALID, ERR_RANGE for e1 not odd in (1, n), or m outside (1, n − 1)).
 */
export function partialVerify(pub: RsaPublicKey, e1: bigint, m: bigint, sg1: Uint8Array): boolean {
  const k = checkPublicKey(pub);
  checkOddExponent(e1, pub.n, 'e1');
  checkRepresentative(m, pub.n);
  if (signatureValueOrUndefined(sg1, pub.n) === undefined) return false;
  try {
    return equalBytes(powPublicBytes(sg1, e1, pub.n, { cache: true }), i2osp(m, k));
  } catch {
    return false;
  }
}

/** SG1 over the RS256 signing input `message` (its PKCS#1 v1.5 SHA-256 representative). */
export function partialSignMessage(key: RsaPrivateKey, split: SplitKey, message: Uint8Array): Uint8Array {
  abytes(message, 'message');
  return partialSign(key, split, representative(message, key.n));
}

/** partialVerify over the RS256 signing input `message`. */
export function partialVerifyMessage(pub: RsaPublicKey, e1: bigint, message: Uint8Array, sg1: Uint8Array): boolean {
  checkPublicKey(pub);
  abytes(message, 'message');
  return partialVerify(pub, e1, representative(message, pub.n), sg1);
}
