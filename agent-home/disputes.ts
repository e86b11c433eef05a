/**
 * Phase 4: the Agent Home as arbiter.
 *
 * resolve (merchant): the merchant countersigned but never got the buyer's complete
 * signature. The Agent Home checks the whole contract, that the merchant's signature is on
 * it, that SG1^e1 ≡ m, that the contract is exactly an agreement it recorded, that the
 * exchange was not aborted and its deadline has not passed; then SG = SG1 · m^d2, checks
 * SG^e ≡ m, records the resolution, answers SG and puts SG_S in the buyer's mailbox.
 * Resolving twice gives the same answer.
 *
 * abort (buyer): the buyer sent SG1 but never got SG_S. Unless the exchange is resolved,
 * the Agent Home records the abort and answers a signed token; every later resolve gets
 * that token. If it was resolved, the buyer gets SG_S instead.
 *
 * Resolution and abort are the same create-if-absent record, so exactly one of them wins.
 *
 * Crash safety: what follows the record (the session's list of exchanges, the audit record,
 * the one mailbox delivery) is finished by whichever request finds the record first — the
 * one that made it, or a repeated resolve or abort after a crash. The delivery carries a
 * message id and is marked on the record once stored, so the buyer gets SG_S exactly once.
 */
import { canonicalJson } from '../crypto/canonical.js';
import { fromB64u, toB64u } from '../crypto/bytes.js';
import { isParleyError } from '../crypto/errors.js';
import { completeMessage } from '../crypto/rsa/index.js';
import { checkBuyerHeader, checkMerchantSignature, isParleyBuyerHeader, merchantCertificate, type JwsSignature } from '../crypto/jws.js';
import { parleyError } from '../protocol/errors.js';
import type { OpenedRequest } from '../protocol/signed-request.js';
import { assertContractPayload, buyerSigningInput, checkPartialSignature, contractId as contractIdOf } from '../protocol/contract.js';
import { signAbortToken, type AbortReply, type ResolveReply, type MailboxReply } from '../protocol/exchange.js';
import type { HomeContext } from './context.js';
import type { ExchangeRecord } from './state.js';
import { loadEscrow } from './escrow.js';
import { crashPoint } from '../agents/crash-point.js';

interface ResolveBody {
  payload: string;
  protected: string;
  sg1: string;
  merchantSignature: JwsSignature;
}

function outcomeForMerchant(x: ExchangeRecord): ResolveReply {
  return x.status === 'resolved' ? { outcome: 'resolved', contractId: x.contractId, sg: x.sg! } : { outcome: 'aborted', contractId: x.contractId, token: x.token! as Extract<ResolveReply, { outcome: 'aborted' }>['token'] };
}

function outcomeForBuyer(x: ExchangeRecord): AbortReply {
  return x.status === 'resolved'
    ? { outcome: 'resolved', contractId: x.contractId, merchantSignature: x.merchantSignature! }
    : { outcome: 'aborted', contractId: x.contractId, token: x.token! as Extract<AbortReply, { outcome: 'aborted' }>['token'] };
}

/** Everything that follows an exchange's outcome; idempotent, so it may run again after a crash. */
async function finishExchange(ctx: HomeContext, x: ExchangeRecord): Promise<void> {
  await ctx.state.updateSession(x.sn, (s) => (s.exchanges.includes(x.contractId) ? undefined : { ...s, exchanges: [...s.exchanges, x.contractId] }));
  await ctx.audit.append(x.status === 'resolved' ? 'resolution' : 'abort', x.contractId, { contractId: x.contractId, merchant: x.merchant, buyer: x.buyer }, x.sn);
  if (x.status !== 'resolved' || x.delivered) return;
  await ctx.state.deliver(x.buyer, { at: x.at, kind: 'merchant-signature', sn: x.sn, merchant: x.merchant, contractId: x.contractId, merchantSignature: x.merchantSignature! });
  await ctx.state.update<ExchangeRecord>(ctx.state.exchanges, x.contractId, (r) => (r.delivered ? undefined : { ...r, delivered: true }));
}

export async function handleResolve(ctx: HomeContext, req: OpenedRequest<ResolveBody>): Promise<ResolveReply> {
  const { body, signer } = req;
  const facts = assertContractPayload(body.payload, ctx.ca);
  const p = facts.payload;
  if (p.merchant.id !== signer.id) throw parleyError('ERR_FORBIDDEN', `${signer.id} is not the merchant of this contract`);
  if (p.home.id !== ctx.self.id) throw parleyError('ERR_VOUCHER_INVALID', `the contract's voucher is from ${p.home.id}, not this Agent Home`);
  const session = await ctx.state.session(p.sn);
  if (!session) throw parleyError('ERR_SESSION_UNKNOWN', `no session ${p.sn}`);
  if (canonicalJson(p.voucher) !== canonicalJson(session.voucher)) throw parleyError('ERR_VOUCHER_INVALID', 'the voucher is not the one this Agent Home issued for the session');
  // compare what the delegation binds, not its bytes: a buyer could sign a second, equally
  // valid delegation of the same key and make a byte comparison refuse to resolve
  const d = facts.delegation;
  if (p.buyer.id !== session.buyer || d.buyer !== session.buyer || d.n !== session.n || d.e !== session.e || d.requestHash !== session.requestHash) {
    throw parleyError('ERR_CONTRACT_INVALID', 'the contract names another buyer, session key or request');
  }
  checkBuyerHeader(body.protected, facts.session);
  if (!isParleyBuyerHeader(body.protected, facts.session)) throw parleyError('ERR_CONTRACT_INVALID', "unexpected buyer's protected header");

  const jws = { payload: body.payload, signatures: [{ protected: body.protected, signature: body.sg1 }, body.merchantSignature] };
  if (merchantCertificate(jws).fingerprint !== facts.merchant.fingerprint || !checkMerchantSignature(jws, facts.merchant)) {
    throw parleyError('ERR_JWS_SIGNATURE_INVALID', "the merchant's signature on the contract does not verify");
  }
  if (!checkPartialSignature(facts, body.payload, body.protected, body.sg1)) throw parleyError('ERR_PARTIAL_SIGNATURE_INVALID', 'SG1^e1 ≠ m');

  const agreement = await ctx.state.agreement(p.sn, p.merchant.id);
  if (!agreement) throw parleyError('ERR_AGREEMENT_UNKNOWN', `no agreement with ${p.merchant.id} in session ${p.sn}`);
  if (
    canonicalJson(agreement.bid) !== canonicalJson(p.terms) ||
    canonicalJson(agreement.template) !== canonicalJson(p.template) ||
    canonicalJson(agreement.proof) !== canonicalJson(p.bidProof)
  ) {
    throw parleyError('ERR_TERMS_MISMATCH', 'the contract is not the agreement recorded for this session');
  }

  const id = contractIdOf(body.payload);
  const prior = await ctx.state.exchange(id);
  if (prior) {
    await finishExchange(ctx, prior);
    return outcomeForMerchant(prior);
  }
  if (Date.now() > Date.parse(p.exchangeDeadline)) throw parleyError('ERR_EXCHANGE_DEADLINE', `the exchange deadline ${p.exchangeDeadline} has passed`);

  const { d2 } = await loadEscrow(ctx, p.sn);
  let sg: Uint8Array;
  try {
    sg = completeMessage(facts.session, d2, buyerSigningInput(body.payload, body.protected), fromB64u(body.sg1, 'sg1'));
  } catch (e) {
    if (isParleyError(e) && e.code === 'ERR_COMPLETION_FAILED') {
      ctx.log(`session ${p.sn}: escrowed d2 does not complete the signature; the buyer escrowed a bad key half`);
      throw parleyError('ERR_ESCROW_INVALID', 'the escrowed key half does not complete the signature; the buyer escrowed a bad d2', e);
    }
    throw e;
  }
  const settled = await ctx.state.settleExchange({
    contractId: id,
    sn: p.sn,
    merchant: p.merchant.id,
    buyer: p.buyer.id,
    status: 'resolved',
    at: new Date().toISOString(),
    sg: toB64u(sg),
    merchantSignature: body.merchantSignature,
    // kept for the evidence file (parley home evidence): the request that justified the resolution
    contract: { payload: body.payload, protected: body.protected, sg1: body.sg1 },
  });
  crashPoint('home:resolve:after-settle');
  await finishExchange(ctx, settled);
  if (settled.status === 'resolved') ctx.log(`session ${p.sn}: resolved exchange ${id} for ${p.merchant.id}`);
  return outcomeForMerchant(settled);
}

export async function handleAbort(ctx: HomeContext, req: OpenedRequest<{ sn: string; merchant: string; contractId: string }>): Promise<AbortReply> {
  const { body, signer } = req;
  const session = await ctx.state.session(body.sn);
  if (!session || session.buyer !== signer.id) throw parleyError('ERR_SESSION_UNKNOWN', `no session ${body.sn} for ${signer.id}`);
  const prior = await ctx.state.exchange(body.contractId);
  if (prior) {
    if (prior.sn !== body.sn || prior.merchant !== body.merchant) throw parleyError('ERR_FORBIDDEN', 'that exchange belongs to another session or merchant');
    await finishExchange(ctx, prior);
    return outcomeForBuyer(prior);
  }
  const at = new Date().toISOString();
  const token = signAbortToken({ sn: body.sn, merchant: body.merchant, contractId: body.contractId, home: ctx.self.id, at }, ctx.self.secretKey);
  const settled = await ctx.state.settleExchange({ contractId: body.contractId, sn: body.sn, merchant: body.merchant, buyer: signer.id, status: 'aborted', at, token });
  await finishExchange(ctx, settled);
  ctx.log(`session ${body.sn}: ${settled.status === 'aborted' ? 'aborted' : 'abort refused, already resolved:'} exchange ${body.contractId} with ${body.merchant}`);
  return outcomeForBuyer(settled);
}

export async function handleMailbox(ctx: HomeContext, req: OpenedRequest<{ after: number }>): Promise<MailboxReply> {
  const messages = await ctx.state.mailbox(req.signer.id, req.body.after);
  return { messages, last: messages.length ? messages[messages.length - 1]!.seq : req.body.after };
}
