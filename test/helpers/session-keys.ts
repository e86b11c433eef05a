/** RSA fixtures shared by the suites: one generated session key per size per test process. */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { generateSessionKey, rsaPrivateJwk, type RsaPrivateKey } from '../../crypto/rsa/index.js';

const keys = new Map<number, Promise<RsaPrivateKey>>();

/** A session key of `bits`, generated once and reused by every suite in this process. */
export function sharedSessionKey(bits: 2048 | 3072 | 4096): Promise<RsaPrivateKey> {
  let k = keys.get(bits);
  if (!k) {
    k = generateSessionKey(bits);
    keys.set(bits, k);
  }
  return k;
}

/** The same key as a node:crypto KeyObject, for cross-checks against OpenSSL's own RS256. */
export function nodePrivateKey(key: RsaPrivateKey): KeyObject {
  return createPrivateKey({ key: rsaPrivateJwk(key), format: 'jwk' });
}
