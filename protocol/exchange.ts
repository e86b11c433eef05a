/**
 * Phase 3 and 4 messages.
 *
 * Optimistic signing, buyer ↔ merchant only (the Agent Home sees nothing of it):
 *   contract-offer    buyer → store  {payload, protected, sg1}        → {merchantSignature}
 *   contract-complete buyer → store  {contractId, sg}                 → {accepted}
 * Disputes, at the Agent Home:
 *   resolve   merchant → AH {payload, protected, sg1, merchantSignature} → resolved {sg} | aborted {token}
 *   abort     buyer → AH    {sn, merchant, contractId}                   → aborted {token} | resolved {merchantSignature}
 *   mailbox   buyer → AH    {after}                                       → what the buyer must receive while offline
 * Abort tokens are signed by the Agent Home: proof that the exchange can no longer be resolved.
 */
import { z } from 'zod';
import { openSignedObject, signObject, type SignedObject } from '../crypto/signed.js';
import { b64u, checkSchema, isoTime, partyId, signedObject } from './wire.js';
import { sessionNumber } from './voucher.js';
import { hash32 } from './session.js';

export const CONTRACT_OFFER_TYPE = 'contract-offer';
export const CONTRACT_COMPLETE_TYPE = 'contract-complete';
export const RESOLVE_TYPE = 'resolve';
export const ABORT_TYPE = 'abort';
export const ABORT_TOKEN_TYPE = 'abort-token';
export const MAILBOX_TYPE = 'mailbox';

const jwsPart = b64u(256 * 1024).min(1);
export const JwsSignatureSchema = z.strictObject({ protected: b64u(64 * 1024).min(1), signature: b64u(1024).min(1) });
/** An RSA signature value (k bytes, base64url). */
const rsaValue = b64u(700).min(1);

export const ContractOfferSchema = z.strictObject({ payload: jwsPart, protected: b64u(1024).min(1), sg1: rsaValue });
export const ContractOfferReplySchema = z.strictObject({ contractId: hash32, merchantSignature: JwsSignatureSchema });
export type ContractOfferReply = z.infer<typeof ContractOfferReplySchema>;

export const ContractCompleteSchema = z.strictObject({ contractId: hash32, sg: rsaValue });
export const ContractCompleteReplySchema = z.strictObject({ contractId: hash32, accepted: z.literal(true) });

export const ResolveSchema = z.strictObject({ payload: jwsPart, protected: b64u(1024).min(1), sg1: rsaValue, merchantSignature: JwsSignatureSchema });

export const AbortTokenSchema = z.strictObject({ sn: sessionNumber, merchant: partyId, contractId: hash32, home: partyId, at: isoTime });
export type AbortTokenBody = z.infer<typeof AbortTokenSchema>;
export const SignedAbortTokenSchema = signedObject(ABORT_TOKEN_TYPE, AbortTokenSchema);
export type AbortToken = SignedObject<AbortTokenBody>;

export const ResolveReplySchema = z.discriminatedUnion('outcome', [
  z.strictObject({ outcome: z.literal('resolved'), contractId: hash32, sg: rsaValue }),
  z.strictObject({ outcome: z.literal('aborted'), contractId: hash32, token: SignedAbortTokenSchema }),
]);
export type ResolveReply = z.infer<typeof ResolveReplySchema>;

export const AbortSchema = z.strictObject({ sn: sessionNumber, merchant: partyId, contractId: hash32 });
export const AbortReplySchema = z.discriminatedUnion('outcome', [
  z.strictObject({ outcome: z.literal('aborted'), contractId: hash32, token: SignedAbortTokenSchema }),
  z.strictObject({ outcome: z.literal('resolved'), contractId: hash32, merchantSignature: JwsSignatureSchema }),
]);
export type AbortReply = z.infer<typeof AbortReplySchema>;

export const MailboxSchema = z.strictObject({ after: z.number().int().min(0) });
export const MailMessageSchema = z.strictObject({
  seq: z.number().int().min(1),
  at: isoTime,
  kind: z.literal('merchant-signature'),
  sn: sessionNumber,
  merchant: partyId,
  contractId: hash32,
  merchantSignature: JwsSignatureSchema,
});
export type MailMessage = z.infer<typeof MailMessageSchema>;
export const MailboxReplySchema = z.strictObject({ messages: z.array(MailMessageSchema).max(1000), last: z.number().int().min(0) });
export type MailboxReply = z.infer<typeof MailboxReplySchema>;

export function signAbortToken(body: AbortTokenBody, homeSecretKey: Uint8Array): AbortToken {
  return signObject(ABORT_TOKEN_TYPE, checkSchema(AbortTokenSchema, body, 'abort token'), homeSecretKey);
}

export function openAbortToken(token: unknown, homePublicKey: Uint8Array): AbortTokenBody {
  return checkSchema(AbortTokenSchema, openSignedObject(token, ABORT_TOKEN_TYPE, homePublicKey, 'ERR_EXCHANGE_ABORTED'), 'abort token');
}
