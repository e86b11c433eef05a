/**
 * Completion by the Agent Home (PROTOCOL.md "Split-key RSA" step 5 and Phase 4 "Resolve"):
 * SG2 = m^d2 mod n, SG = SG1·SG2 mod n, then SG^e ≡ m is checked before SG is released.
 *
 * The Agent Home has no p, q, so m^d2 runs through OpenSSL's public-key path with d2 as
 * the exponent. That path is NOT constant-time and not blinded: its timing depends on d2.
 * m is public (the contract), so what leaks is timing about the AH's own share of a
 * one-session key. For moduli over 3072 bits OpenSSL refuses an exponent of that size and
 * bigint-crypto-utils' modPow (also variable-time) computes m^d2 instead.
 */
import { equalBytes, i2osp } from '../bytes.js';
import { cryptoError } from '../errors.js';
import { abytes, checkExponentShare, checkPublicKey, checkRepresentative, signatureValue } from './checks.js';
import { powPublic, powPublicBytes } from './openssl.js';
import { representative } from './pkcs1.js';
import type { RsaPublicKey } from './types.js';

/**
 * The complete signature SG (k bytes) from the buyer's SG1 and the escrowed d2.
 * Throws ERR_RANGE for m outside (1, n − 1), d2 outside (0, n) or SG1 not k bytes in
 * (0, n); ERR_COMPLETION_FAILED when SG^e ≢ m (a wrong SG1 or a wrong d2).
 */
export function complete(pub: RsaPublicKey, d2: bigint, m: bigint, sg1: Uint8Array): Uint8Array {
  const k = checkPublicKey(pub);
  checkExponentShare(d2, pub.n, 'd2');
  checkRepresentative(m, pub.n);
  const s1 = signatureValue(sg1, pub.n, 'sg1');
  const sg2 = powPublic(m, d2, pub.n, { cache: false }); // variable-time in d2, see above
  const sg = i2osp((s1 * sg2) % pub.n, k);
  if (!equalBytes(powPublicBytes(sg, pub.e, pub.n, { cache: true }), i2osp(m, k))) {
    throw cryptoError('ERR_COMPLETION_FAILED', 'SG1·m^d2 does not verify under e: the partial signature or d2 is wrong');
  }
  return sg;
}

/** complete() over the RS256 signing input `message`; the result is its RS256 signature. */
export function completeMessage(pub: RsaPublicKey, d2: bigint, message: Uint8Array, sg1: Uint8Array): Uint8Array {
  checkPublicKey(pub);
  abytes(message, 'message');
  return complete(pub, d2, representative(message, pub.n), sg1);
}
