/**
 * The buyer's complete signature SG = m^d mod n (PROTOCOL.md Phase 3 step 4), by OpenSSL's
 * private-key path (CRT, blinded, constant-time). Over a message this is a standard
 * RSASSA-PKCS1-v1_5 / RS256 signature, byte-identical to `crypto.sign('sha256', …)`.
 */
import { byteLength, i2osp } from '../bytes.js';
import { abytes, checkRepresentative } from './checks.js';
import { powPrivate } from './openssl.js';
import { representative } from './pkcs1.js';
import type { RsaPrivateKey } from './types.js';
import { privateKeyObject } from './validate.js';

/** SG = m^d mod n as k bytes; ERR_RANGE unless 1 < m < n − 1. */
export function fullSign(key: RsaPrivateKey, m: bigint): Uint8Array {
  const object = privateKeyObject(key);
  checkRepresentative(m, key.n);
  return powPrivate(object, i2osp(m, byteLength(key.n)));
}

/** RS256 signature (k bytes) over the signing input `message`. */
export function signRs256(key: RsaPrivateKey, message: Uint8Array): Uint8Array {
  privateKeyObject(key);
  abytes(message, 'message');
  return fullSign(key, representative(message, key.n));
}
