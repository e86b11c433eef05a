/**
 * Escrow proof (PROTOCOL.md Phase 1 step 1): the buyer shows the Agent Home that the d2 it
 * escrows completes partial signatures under e1. For a test representative t derived from
 * the session's public values and a caller-given context (e.g. the request hash), the
 * buyer sends SG1_t = t^d1 mod n; the AH accepts only if SG1_t^e1 ≡ t and
 * (SG1_t · t^d2)^e ≡ t (mod n).
 *
 * Soundness limit: this is a single-point check. A buyer that crafts its own key can
 * escrow a d2 that is wrong modulo a small factor r of λ(n) (e.g. r = 2); it then passes
 * whenever t happens to be an r-th power residue, probability about 1/r (about 1/2 per
 * attempt), and it can grind over fresh contexts or keys until one passes. The proof
 * therefore catches garbage and honest mistakes, not a determined cheater; the Agent Home
 * re-checks SG^e ≡ m when it resolves (complete() throws ERR_COMPLETION_FAILED), and that
 * check is what fairness rests on.
 */
import { sha256 } from '../hash.js';
import { bigintToBytes, byteLength, concatBytes, equalBytes, i2osp, os2ip, utf8 } from '../bytes.js';
import { cryptoError } from '../errors.js';
import { abytes, checkExponentShare, checkOddExponent, checkPublicKey, signatureValueOrUndefined } from './checks.js';
import { powPublic, powPublicBytes } from './openssl.js';
import { partialSign } from './partial.js';
import type { RsaPrivateKey, RsaPublicKey, SplitKey } from './types.js';

export const ESCROW_TEST_TAG = 'parley/v1/escrow-test';

export interface EscrowProof {
  /** SG1_t = t^d1 mod n, k bytes */
  readonly sg1t: Uint8Array;
}

function u32(x: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, x);
  return b;
}

function lengthPrefixed(b: Uint8Array): Uint8Array {
  return concatBytes(u32(b.length), b);
}

/**
 * t = 2 + (X mod (n − 3)), so 1 < t < n − 1, where X is k + 16 bytes of
 * SHA-256(seed ‖ counter) blocks and seed = SHA-256(tag ‖ 0x00 ‖ n ‖ e ‖ e1 ‖ context),
 * every field length-prefixed. The 128 extra bits make the reduction bias negligible.
 */
export function escrowTestRepresentative(pub: RsaPublicKey, e1: bigint, context: Uint8Array): bigint {
  const k = checkPublicKey(pub);
  checkOddExponent(e1, pub.n, 'e1');
  abytes(context, 'context');
  const seed = sha256(
    concatBytes(
      utf8(ESCROW_TEST_TAG),
      new Uint8Array([0]),
      lengthPrefixed(i2osp(pub.n, k)),
      lengthPrefixed(bigintToBytes(pub.e)),
      lengthPrefixed(bigintToBytes(e1)),
      lengthPrefixed(context),
    ),
  );
  const blocks: Uint8Array[] = [];
  for (let i = 0, len = 0; len < k + 16; i++, len += 32) blocks.push(sha256(concatBytes(seed, u32(i))));
  const x = os2ip(concatBytes(...blocks).subarray(0, k + 16));
  return 2n + (x % (pub.n - 3n));
}

/** The buyer's proof for `context`. */
export function createEscrowProof(key: RsaPrivateKey, split: SplitKey, context: Uint8Array): EscrowProof {
  if (typeof split !== 'object' || split === null) throw new TypeError('split must be an object');
  const t = escrowTestRepresentative(key, split.e1, context);
  return Object.freeze({ sg1t: partialSign(key, split, t) });
}

/**
 * The Agent Home's check. False when the proof is malformed or does not verify; throws for
 * the AH's own malformed inputs (public key, e1, d2: ERR_KEY_*, ERR_RANGE; context: TypeError).
 * Costs one full-size exponentiation t^d2 (variable-time in d2, see complete.ts).
 */
export function verifyEscrowProof(pub: RsaPublicKey, e1: bigint, d2: bigint, context: Uint8Array, proof: EscrowProof): boolean {
  const k = checkPublicKey(pub);
  checkExponentShare(d2, pub.n, 'd2');
  const t = escrowTestRepresentative(pub, e1, context);
  const sg1t = typeof proof === 'object' && proof !== null ? (proof as { sg1t?: unknown }).sg1t : undefined;
  const s1 = signatureValueOrUndefined(sg1t, pub.n);
  if (s1 === undefined) return false;
  const tBytes = i2osp(t, k);
  try {
    if (!equalBytes(powPublicBytes(sg1t as Uint8Array, e1, pub.n, { cache: true }), tBytes)) return false;
    const sg = (s1 * powPublic(t, d2, pub.n, { cache: false })) % pub.n;
    return equalBytes(powPublicBytes(i2osp(sg, byteLength(pub.n)), pub.e, pub.n, { cache: true }), tBytes);
  } catch {
    return false;
  }
}

/** verifyEscrowProof that throws ERR_ESCROW_PROOF_INVALID instead of returning false. */
export function assertEscrowProof(pub: RsaPublicKey, e1: bigint, d2: bigint, context: Uint8Array, proof: EscrowProof): void {
  if (!verifyEscrowProof(pub, e1, d2, context, proof)) {
    throw cryptoError('ERR_ESCROW_PROOF_INVALID', 'escrow proof does not verify: d2 does not complete partial signatures under e1');
  }
}
