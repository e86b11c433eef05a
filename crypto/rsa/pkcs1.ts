/**
 * EMSA-PKCS1-v1_5 encoding with SHA-256 (RFC 8017 §9.2) and RSASSA-PKCS1-v1_5 verification
 * (RFC 8017 §8.2.2), i.e. JWS "RS256" (RFC 7518 §3.3).
 *
 * Verification re-encodes the expected message and compares the whole encoded block, as
 * RFC 8017 recommends, instead of parsing the ASN.1 inside the signature; this rejects
 * every malleable or BER-encoded variant by construction.
 */
import { sha256 } from '../hash.js';
import { concatBytes, equalBytes, fromHex, os2ip } from '../bytes.js';
import { cryptoError } from '../errors.js';
import { abytes, checkModulus, checkPublicKey, signatureValueOrUndefined } from './checks.js';
import { powPublicBytes } from './openssl.js';
import type { RsaPublicKey } from './types.js';

/** DER of DigestInfo{sha256, NULL} without the 32-byte digest (RFC 8017 §9.2 note 1). */
export const SHA256_DIGEST_INFO_PREFIX = fromHex('3031300d060960864801650304020105000420');

/**
 * EM = 0x00 ‖ 0x01 ‖ PS ‖ 0x00 ‖ T with PS = 0xFF bytes, |EM| = k and |PS| ≥ 8.
 * `digestInfo` is T, the DER DigestInfo (prefix ‖ hash), for any hash.
 */
export function emsaPkcs1v15EncodeDigestInfo(digestInfo: Uint8Array, k: number): Uint8Array {
  abytes(digestInfo, 'digestInfo');
  if (!Number.isSafeInteger(k) || k < 0) throw new TypeError('k must be a non-negative integer');
  if (k < digestInfo.length + 11) throw cryptoError('ERR_RANGE', 'intended encoded message length too short');
  const em = new Uint8Array(k).fill(0xff);
  em[0] = 0x00;
  em[1] = 0x01;
  em[k - digestInfo.length - 1] = 0x00;
  em.set(digestInfo, k - digestInfo.length);
  return em;
}

/** EMSA-PKCS1-v1_5-ENCODE(SHA-256, message) to k bytes. */
export function emsaPkcs1v15Encode(message: Uint8Array, k: number): Uint8Array {
  abytes(message, 'message');
  return emsaPkcs1v15EncodeDigestInfo(concatBytes(SHA256_DIGEST_INFO_PREFIX, sha256(message)), k);
}

/** The message representative m = OS2IP(EMSA-PKCS1-v1_5-ENCODE(SHA-256, message)) for modulus n. */
export function representative(message: Uint8Array, n: bigint): bigint {
  return os2ip(emsaPkcs1v15Encode(message, checkModulus(n)));
}

/**
 * RS256 verification: true only if `signature` is exactly k bytes, 0 < s < n and
 * s^e mod n equals the encoding of `message`. False (never a throw) for any malformed
 * signature; a malformed public key or a non-bytes message is the caller's error and throws.
 */
export function verifyRs256(pub: RsaPublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  const k = checkPublicKey(pub);
  abytes(message, 'message');
  if (signatureValueOrUndefined(signature, pub.n) === undefined) return false;
  try {
    const em = powPublicBytes(signature, pub.e, pub.n, { cache: true });
    return equalBytes(em, emsaPkcs1v15Encode(message, k));
  } catch {
    return false;
  }
}
