/**
 * Phase 1 messages: the buyer's `notify` to the Agent Home and what comes back.
 *
 * - delegation: the buyer's identity key delegates contract signing to a fresh per-session
 *   RSA key: {buyer, n, e, requestHash, notAfter, purpose: "parley-contract"}.
 * - requestHash = SHA-256("parley/v1/request-hash" ‖ 0 ‖ canonical({request, deadline, nonce}))
 *   binds the delegation, the escrow proof and the sealed secrets to this one request.
 * - notify (signed request, buyer → Agent Home): REQ, T_C, nonce, delegation, e1, the escrow
 *   proof, and d2 + NRule sealed to the Agent Home's encryption key.
 * - reply: SN, the voucher, and SG_REQ = Sign_AH(request, {SN, home, REQ, T_C}).
 * - the Agent Home's encryption key, signed with its identity key.
 */
import { z } from 'zod';
import { sha256 } from '../crypto/hash.js';
import { canonicalBytes } from '../crypto/canonical.js';
import { concatBytes, fromB64u, toB64u, utf8 } from '../crypto/bytes.js';
import { openSignedObject, signObject, type SignedObject } from '../crypto/signed.js';
import { ParleyError } from '../crypto/errors.js';
import { PurchaseRequestSchema, type PurchaseRequest } from './commerce.js';
import { parleyError } from './errors.js';
import { b64u, bigIntB64u, checkSchema, isoTime, partyId, pem, signedObject } from './wire.js';
import { sessionNumber, VoucherSchema, VOUCHER_TYPE } from './voucher.js';

export const DELEGATION_TYPE = 'delegation';
export const NOTIFY_TYPE = 'notify';
export const REQUEST_STATEMENT_TYPE = 'request';
export const ENCRYPTION_KEY_TYPE = 'encryption-key';
export const DELEGATION_PURPOSE = 'parley-contract';

export const nonce = b64u(22).regex(/^[A-Za-z0-9_-]{22}$/, 'must be a 128-bit base64url nonce');
export const hash32 = b64u(43).regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url SHA-256');

export function requestHash(request: PurchaseRequest, deadline: string, nonceValue: string): string {
  return toB64u(sha256(utf8('parley/v1/request-hash'), new Uint8Array([0]), canonicalBytes({ request, deadline, nonce: nonceValue })));
}

/** Binds the sealed secrets to this request (the AAD/context of the sealed box). */
export function sealContext(reqHash: string): Uint8Array {
  return concatBytes(utf8('parley/v1/notify-secrets'), new Uint8Array([0]), fromB64u(reqHash, 'requestHash'));
}

/** Context of the escrow proof's test representative. */
export function escrowContext(reqHash: string): Uint8Array {
  return concatBytes(utf8('parley/v1/escrow'), new Uint8Array([0]), fromB64u(reqHash, 'requestHash'));
}

export const DelegationSchema = z.strictObject({
  buyer: partyId,
  n: bigIntB64u(512),
  e: bigIntB64u(8),
  requestHash: hash32,
  notAfter: isoTime,
  purpose: z.literal(DELEGATION_PURPOSE),
});
export type DelegationBody = z.infer<typeof DelegationSchema>;
export const SignedDelegationSchema = signedObject(DELEGATION_TYPE, DelegationSchema);
export type Delegation = SignedObject<DelegationBody>;

export function signDelegation(body: DelegationBody, buyerSecretKey: Uint8Array): Delegation {
  return signObject(DELEGATION_TYPE, checkSchema(DelegationSchema, body, 'delegation'), buyerSecretKey);
}

/** Verifies the delegation with the buyer's identity key; ERR_DELEGATION_INVALID for any defect. */
export function openDelegation(delegation: unknown, buyerPublicKey: Uint8Array): DelegationBody {
  try {
    return checkSchema(DelegationSchema, openSignedObject(delegation, DELEGATION_TYPE, buyerPublicKey), 'delegation');
  } catch (e) {
    throw parleyError('ERR_DELEGATION_INVALID', `delegation rejected (${e instanceof ParleyError ? e.code : 'error'}): ${(e as Error).message}`, e);
  }
}

/** The secrets only the Agent Home may read: sealed in the notify. */
export const SealedSecretsSchema = z.strictObject({ d2: bigIntB64u(512), rules: z.unknown() });
export type SealedSecrets = z.infer<typeof SealedSecretsSchema>;

export const NotifySchema = z.strictObject({
  request: PurchaseRequestSchema,
  deadline: isoTime,
  nonce,
  delegation: SignedDelegationSchema,
  e1: bigIntB64u(16),
  escrowProof: z.strictObject({ sg1t: b64u(700) }),
  /** sealed box (base64url) of SealedSecrets, context = sealContext(requestHash) */
  sealed: b64u(96 * 1024),
});
export type NotifyBody = z.infer<typeof NotifySchema>;

/** SG_REQ: the Agent Home's signed statement of the public request of a session. */
export const RequestStatementSchema = z.strictObject({ sn: sessionNumber, home: partyId, request: PurchaseRequestSchema, deadline: isoTime });
export type RequestStatement = z.infer<typeof RequestStatementSchema>;
export const SignedRequestStatementSchema = signedObject(REQUEST_STATEMENT_TYPE, RequestStatementSchema);

export const NotifyReplySchema = z.strictObject({
  sn: sessionNumber,
  voucher: signedObject(VOUCHER_TYPE, VoucherSchema),
  sgReq: SignedRequestStatementSchema,
});
export type NotifyReply = z.infer<typeof NotifyReplySchema>;

export const EncryptionKeySchema = z.strictObject({ home: partyId, x25519: b64u(43), notAfter: isoTime });
export type EncryptionKeyBody = z.infer<typeof EncryptionKeySchema>;
export const EncryptionKeyReplySchema = z.strictObject({ cert: pem, key: signedObject(ENCRYPTION_KEY_TYPE, EncryptionKeySchema) });
export type EncryptionKeyReply = z.infer<typeof EncryptionKeyReplySchema>;

/** Checks SG_REQ with the Agent Home's key; returns its body or throws ERR_REQUEST_INVALID. */
export function openRequestStatement(sgReq: unknown, homePublicKey: Uint8Array): RequestStatement {
  try {
    return checkSchema(RequestStatementSchema, openSignedObject(sgReq, REQUEST_STATEMENT_TYPE, homePublicKey), 'SG_REQ');
  } catch (e) {
    throw parleyError('ERR_REQUEST_INVALID', `SG_REQ rejected (${e instanceof ParleyError ? e.code : 'error'}): ${(e as Error).message}`, e);
  }
}

/** Verifies the Agent Home's signed encryption key; returns the X25519 public key. */
export function openEncryptionKey(key: unknown, homeId: string, homePublicKey: Uint8Array, now = Date.now()): Uint8Array {
  const body = checkSchema(EncryptionKeySchema, openSignedObject(key, ENCRYPTION_KEY_TYPE, homePublicKey), 'encryption key');
  if (body.home !== homeId) throw parleyError('ERR_FORBIDDEN', `encryption key belongs to ${body.home}, not ${homeId}`);
  if (Date.parse(body.notAfter) < now) throw parleyError('ERR_DEADLINE_PASSED', 'the Agent Home encryption key has expired');
  return fromB64u(body.x25519, 'x25519');
}
