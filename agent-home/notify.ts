/**
 * Phase 1, step 2: the Agent Home accepts a buyer's request. It verifies the buyer's
 * certificate and signature (done by serve.ts), the delegation, the session key, the sealed
 * secrets and the escrow proof; assigns a random 128-bit SN; stores d2 and the rules
 * encrypted at rest; signs the voucher and SG_REQ; records the session (each step in the
 * audit log); and, once the answer has left, sends the Invite Agent out (service.ts; a
 * session left uninvited by a crash is invited at the next start, invitations.ts). Nothing
 * is stored unless every check passed.
 */
import { randomBytes } from 'node:crypto';
import { b64uToBigint, bitLength, fromB64u, fromUtf8 } from '../crypto/bytes.js';
import { open as openSealed } from '../crypto/seal.js';
import { signObject } from '../crypto/signed.js';
import { assertEscrowProof } from '../crypto/rsa/index.js';
import { isParleyError } from '../crypto/errors.js';
import { parleyError } from '../protocol/errors.js';
import type { OpenedRequest } from '../protocol/signed-request.js';
import { parseRules } from '../protocol/rules.js';
import { checkSchema } from '../protocol/wire.js';
import { issueVoucher } from '../protocol/voucher.js';
import {
  escrowContext,
  openDelegation,
  requestHash,
  sealContext,
  SealedSecretsSchema,
  REQUEST_STATEMENT_TYPE,
  type NotifyBody,
  type NotifyReply,
  type RequestStatement,
} from '../protocol/session.js';
import type { HomeContext } from './context.js';
import type { SessionRecord } from './state.js';
import { storeEscrow } from './escrow.js';
import { auditSessionOpened } from './invitations.js';
import { parseStrictJson } from '../crypto/strict-json.js';

const SESSION_KEY_SIZES = new Set([2048, 3072, 4096]);

export async function handleNotify(ctx: HomeContext, req: OpenedRequest<NotifyBody>): Promise<NotifyReply> {
  const { body, signer } = req;
  const now = Date.now();
  const deadline = Date.parse(body.deadline);
  if (deadline <= now + 1000) throw parleyError('ERR_DEADLINE_PASSED', 'the negotiation deadline must be in the future');
  if (deadline > now + ctx.settings.maxDeadlineMs) throw parleyError('ERR_REQUEST_INVALID', `deadline more than ${ctx.settings.maxDeadlineMs / 3600_000} h ahead`);

  const reqHash = requestHash(body.request, body.deadline, body.nonce);
  const delegation = openDelegation(body.delegation, signer.publicKey);
  if (delegation.buyer !== signer.id) throw parleyError('ERR_DELEGATION_INVALID', `delegation names ${delegation.buyer}, request signed by ${signer.id}`);
  if (delegation.requestHash !== reqHash) throw parleyError('ERR_DELEGATION_INVALID', 'delegation is for another request');
  if (Date.parse(delegation.notAfter) <= deadline) throw parleyError('ERR_DELEGATION_INVALID', 'delegation expires before the negotiation deadline');
  const n = b64uToBigint(delegation.n, 'n');
  const e = b64uToBigint(delegation.e, 'e');
  if (!SESSION_KEY_SIZES.has(bitLength(n))) throw parleyError('ERR_KEY_SIZE', `session key of ${bitLength(n)} bits; 2048, 3072 or 4096 required`);
  if (e !== 65537n) throw parleyError('ERR_KEY_INVALID', 'session key must use e = 65537');
  const e1 = b64uToBigint(body.e1, 'e1');
  if (e1 < 3n || e1 % 2n === 0n || bitLength(e1) > 64) throw parleyError('ERR_RANGE', 'e1 must be an odd integer of at most 64 bits');

  // d2 and the rules: only this Agent Home can open them, and only for this request
  let secrets;
  try {
    secrets = checkSchema(SealedSecretsSchema, parseStrictJson(fromUtf8(openSealed(fromB64u(body.sealed, 'sealed'), ctx.secrets.encryption.secretKey, sealContext(reqHash)))), 'sealed secrets');
  } catch (err) {
    if (isParleyError(err) && err.code === 'ERR_SCHEMA') throw err;
    throw parleyError('ERR_SEALED_BOX_INVALID', 'the sealed secrets cannot be opened by this Agent Home for this request', err);
  }
  const d2 = b64uToBigint(secrets.d2, 'd2');
  if (d2 <= 0n || d2 >= n) throw parleyError('ERR_RANGE', 'd2 out of range');
  const rules = parseRules(secrets.rules);
  assertEscrowProof({ n, e }, e1, d2, escrowContext(reqHash), { sg1t: fromB64u(body.escrowProof.sg1t, 'sg1t') });

  const sn = randomBytes(16).toString('hex');
  const signBy = new Date(Math.min(deadline + ctx.settings.exchangeWindowMs, Date.parse(delegation.notAfter)));
  const voucher = issueVoucher({ sn, home: ctx.self.id, n, e, e1, deadline: new Date(deadline), signBy }, ctx.self.secretKey);
  const statement: RequestStatement = { sn, home: ctx.self.id, request: body.request, deadline: body.deadline };
  const sgReq = signObject(REQUEST_STATEMENT_TYPE, statement, ctx.self.secretKey);

  await storeEscrow(ctx, sn, { d2, rules });
  await ctx.audit.append('escrow-stored', sn, { bits: bitLength(n) }, sn);
  const record: SessionRecord = {
    sn,
    home: ctx.self.id,
    buyer: signer.id,
    buyerCert: req.cert,
    request: body.request,
    deadline: new Date(deadline).toISOString(),
    nonce: body.nonce,
    requestHash: reqHash,
    n: delegation.n,
    e: delegation.e,
    e1: body.e1,
    delegation: body.delegation,
    voucher,
    sgReq,
    created: new Date(now).toISOString(),
    signBy: signBy.toISOString(),
    invites: [],
    invited: [],
    invitesOut: 0,
    visits: [],
    interested: [],
    negotiated: {},
    agreed: [],
    exchanges: [],
  };
  if (!(await ctx.state.createOnce(ctx.state.sessions, sn, record))) throw parleyError('ERR_CONFLICT', 'session number collision');
  await auditSessionOpened(ctx, record);
  ctx.log(`session ${sn}: ${signer.id} asks for ${body.request.quantity} × ${body.request.item} until ${record.deadline}`);
  return { sn, voucher: voucher as NotifyReply['voucher'], sgReq: sgReq as NotifyReply['sgReq'] };
}
