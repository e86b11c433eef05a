/**
 * Split-key RSA for Parley's per-session contract keys: key generation and import,
 * PKCS#1 v1.5 / RS256 encoding and verification, the d = d1 + d2 split, partial
 * signatures, completion by the Agent Home, and the escrow proof.
 */
export { RSA_KEY_SIZES, SESSION_PUBLIC_EXPONENT, type RsaKeySize, type RsaPrivateKey, type RsaPublicKey, type SplitKey } from './types.js';
export { generateSessionKey, rsaKeyFromJwk, rsaKeyFromPem, rsaPrivateJwk, rsaPublicJwk, rsaPublicKey } from './keygen.js';
export { SHA256_DIGEST_INFO_PREFIX, emsaPkcs1v15Encode, emsaPkcs1v15EncodeDigestInfo, representative, verifyRs256 } from './pkcs1.js';
export { E1_BITS, checkSplit, splitKey } from './split.js';
export { partialSign, partialSignMessage, partialVerify, partialVerifyMessage } from './partial.js';
export { complete, completeMessage } from './complete.js';
export { fullSign, signRs256 } from './full.js';
export { ESCROW_TEST_TAG, assertEscrowProof, createEscrowProof, escrowTestRepresentative, verifyEscrowProof, type EscrowProof } from './escrow.js';
