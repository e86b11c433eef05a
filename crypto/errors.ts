/**
 * The one error class of Parley and the codes the crypto layer can raise.
 *
 * Codes are part of the wire contract: once shipped they are never renamed or reused.
 * `protocol/errors.ts` merges this table with the protocol's own codes into the full
 * catalogue. Programmer mistakes (a wrong argument type) are `TypeError`s; bad data is a
 * `ParleyError` with a code from the closed tables.
 */

export const CRYPTO_ERROR_CODES = {
  // generic input shape
  ERR_INVALID_INPUT: 'input is malformed',
  ERR_ENCODING: 'value cannot be encoded or decoded',
  ERR_JSON_DUPLICATE_KEY: 'JSON object repeats a key',
  // RSA session keys and split signatures
  ERR_KEY_SIZE: 'RSA key size is not supported',
  ERR_KEY_INVALID: 'RSA key is inconsistent or malformed',
  ERR_RANGE: 'value is outside its allowed range',
  ERR_SPLIT_INVALID: 'split-key parameters are inconsistent',
  ERR_PARTIAL_SIGNATURE_INVALID: 'partial signature does not verify under e1',
  ERR_SIGNATURE_INVALID: 'signature does not verify',
  ERR_COMPLETION_FAILED: 'completed signature does not verify under e',
  ERR_ESCROW_PROOF_INVALID: 'escrow proof does not verify',
  // Ed25519 identities and X.509
  ERR_CERT_MALFORMED: 'certificate cannot be parsed',
  ERR_CERT_CHAIN: 'certificate is not signed by the trusted CA',
  ERR_CERT_EXPIRED: 'certificate has expired',
  ERR_CERT_NOT_YET_VALID: 'certificate is not yet valid',
  ERR_CERT_ROLE: 'certificate carries the wrong role',
  ERR_CERT_ID: 'certificate carries the wrong party id',
  ERR_CERT_USAGE: 'certificate is not allowed for this use',
  ERR_KEY_FILE: 'key file cannot be read',
  ERR_PASSPHRASE: 'passphrase is missing or wrong, or the encrypted file was altered',
  ERR_FILE_EXISTS: 'file already exists; refusing to overwrite it',
  ERR_FILE_NOT_FOUND: 'file does not exist',
  // signed objects
  ERR_SIGNED_OBJECT_MALFORMED: 'signed object is malformed',
  ERR_WRONG_MESSAGE_TYPE: 'signed object has another message type',
  ERR_UNSUPPORTED_VERSION: 'unsupported protocol version',
  ERR_OBJECT_SIGNATURE_INVALID: 'signature over the object does not verify',
  // hash-chain commitments
  ERR_COMMITMENT_INVALID: 'revealed bid does not match the commitment',
  // sealed boxes and at-rest encryption
  ERR_SEALED_BOX_INVALID: 'sealed box cannot be opened',
  ERR_DECRYPTION_FAILED: 'ciphertext cannot be decrypted',
  // contracts (JWS)
  ERR_JWS_MALFORMED: 'contract JWS is malformed',
  ERR_JWS_SIGNATURE_INVALID: 'a contract signature does not verify',
  ERR_JWS_PAYLOAD_NOT_CANONICAL: 'contract payload bytes are not the canonical JSON (RFC 8785) of what they parse to',
  ERR_JWS_KEY_MISMATCH: 'a key named in a protected header (jwk, kid, x5t#S256) is not the key that must sign',
  ERR_JWS_CRIT_UNSUPPORTED: 'a protected header lists a critical extension (crit) this verifier does not know',
} as const;

export type CryptoErrorCode = keyof typeof CRYPTO_ERROR_CODES;

/** Base error: a stable machine-readable `code` and a message for people. */
export class ParleyError extends Error {
  readonly code: string;
  constructor(code: string, message?: string, options?: { cause?: unknown }) {
    super(message ?? code, options);
    this.name = 'ParleyError';
    this.code = code;
  }
  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Raise a crypto-layer error; the default message comes from the table. */
export function cryptoError(code: CryptoErrorCode, message?: string, cause?: unknown): ParleyError {
  return new ParleyError(code, message ?? CRYPTO_ERROR_CODES[code], cause === undefined ? undefined : { cause });
}

export function isParleyError(e: unknown, code?: string): e is ParleyError {
  return e instanceof ParleyError && (code === undefined || e.code === code);
}
