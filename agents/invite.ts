/**
 * The Invite Agent (IA), issued by the Agent Home: carries the buyer's *public* request from
 * merchant host to merchant host. Its payload is (SN, REQ, T_C, Vou_C, SG_REQ); the issuer
 * certificate is Cert_AH. It carries nothing that identifies the buyer and nothing of the
 * buyer's rules.
 */
import { z } from 'zod';
import { PurchaseRequestSchema, type PurchaseRequest } from '../protocol/commerce.js';
import { parleyError } from '../protocol/errors.js';
import { checkSchema, isoTime, signedObject } from '../protocol/wire.js';
import { openVoucher, sessionNumber, VoucherSchema, VOUCHER_TYPE, type VoucherValues } from '../protocol/voucher.js';
import { openRequestStatement, SignedRequestStatementSchema } from '../protocol/session.js';
import { canonicalJson } from '../crypto/canonical.js';
import { createAgent, type Envelope } from './runtime/envelope.js';
import type { ArrivedAgent } from './runtime/host.js';
import type { Self } from './runtime/trust.js';

export const INVITE_KIND = 'invite';

export const InvitePayloadSchema = z.strictObject({
  sn: sessionNumber,
  request: PurchaseRequestSchema,
  deadline: isoTime,
  voucher: signedObject(VOUCHER_TYPE, VoucherSchema),
  sgReq: SignedRequestStatementSchema,
});
export type InvitePayload = z.infer<typeof InvitePayloadSchema>;

export interface InviteOptions {
  itinerary: string[];
  hopTimeoutMs: number;
  /** the agent expires then (at most the session deadline) */
  expires: Date;
}

export function createInviteAgent(home: Self, payload: InvitePayload, opts: InviteOptions): Envelope {
  return createAgent(home, {
    kind: INVITE_KIND,
    sn: payload.sn,
    itinerary: opts.itinerary.map((host) => ({ host, timeoutMs: opts.hopTimeoutMs })),
    payload: checkSchema(InvitePayloadSchema, payload, 'invite payload'),
    ttlMs: Math.max(1000, opts.expires.getTime() - Date.now()),
  });
}

export interface Invitation {
  sn: string;
  home: string;
  request: PurchaseRequest;
  deadline: Date;
  voucher: VoucherValues;
}

/**
 * What a merchant host checks before acting on an invitation: SG_REQ and Vou_C are the
 * issuing Agent Home's, for this session, consistent with the payload, and T_C has not
 * passed. Throws ERR_SCHEMA, ERR_REQUEST_INVALID, ERR_VOUCHER_INVALID or ERR_DEADLINE_PASSED.
 */
export function openInvitation(agent: ArrivedAgent, now = Date.now()): Invitation {
  const p = checkSchema(InvitePayloadSchema, agent.envelope.payload, 'invite payload');
  const statement = openRequestStatement(p.sgReq, agent.issuer.publicKey);
  const voucher = openVoucher(p.voucher, agent.issuer.publicKey);
  const home = agent.issuer.id;
  if (statement.sn !== p.sn || voucher.sn !== p.sn || agent.header.sn !== p.sn) throw parleyError('ERR_REQUEST_INVALID', 'invitation mixes session numbers');
  if (statement.home !== home || voucher.home !== home) throw parleyError('ERR_REQUEST_INVALID', 'invitation signed for another Agent Home');
  if (canonicalJson(statement.request) !== canonicalJson(p.request) || statement.deadline !== p.deadline) {
    throw parleyError('ERR_REQUEST_INVALID', 'invitation request differs from SG_REQ');
  }
  const deadline = new Date(p.deadline);
  if (deadline.getTime() !== voucher.deadline.getTime()) throw parleyError('ERR_VOUCHER_INVALID', 'voucher states another deadline');
  if (deadline.getTime() <= now) throw parleyError('ERR_DEADLINE_PASSED', `session ${p.sn} closed at ${p.deadline}`);
  return { sn: p.sn, home, request: p.request, deadline, voucher };
}
