/**
 * Phase 3 at the store (PROTOCOL.md steps 3-5), optimistic: the Agent Home takes no part.
 *
 *   offer     buyer → store {payload, protected, sg1} → {contractId, merchantSignature}
 *   complete  buyer → store {contractId, sg}          → {contractId, accepted}
 *
 * Before countersigning, the store checks everything a careful merchant would: the whole
 * payload offline (certificates, delegation, voucher, binding statement, bid proof), that
 * the contract is for this store and this store's Agent Home, that the terms are a bid this
 * store committed to in that session (its own offer record), that the buyer is the signer,
 * that the times are sane, and SG1^e1 ≡ m. It stores the exchange durably, then replies
 * with SG_S. A complete signature is checked under the session key before it is stored.
 *
 * Every request is authenticated (signed, buyer role, addressed to this store, fresh); a
 * request id is acted on once (a replay gets the reply already given). Nothing is stored
 * for a request that fails.
 */
import type { Msg, Subscription } from 'nats';
import type { z } from 'zod';
import { canonicalJson } from '../crypto/canonical.js';
import { equalBytes, fromB64u } from '../crypto/bytes.js';
import { assembleContractJws, buyerSignature, checkBuyerHeader, checkBuyerSignature, isParleyBuyerHeader, merchantProtected, signMerchant } from '../crypto/jws.js';
import { parseCertificate } from '../crypto/x509/index.js';
import { isParleyError, parleyError } from '../protocol/errors.js';
import { MAX_CLOCK_SKEW_MS, openRequest, type OpenedRequest } from '../protocol/signed-request.js';
import { queueGroup, subjects } from '../protocol/subjects.js';
import { errorReply, okReply } from '../protocol/wire.js';
import { assertContractPayload, checkPartialSignature, contractId as contractIdOf, type ContractFacts } from '../protocol/contract.js';
import {
  CONTRACT_COMPLETE_TYPE,
  CONTRACT_OFFER_TYPE,
  ContractCompleteSchema,
  ContractOfferSchema,
  type ContractOfferReply,
} from '../protocol/exchange.js';
import type { ContractRecord } from './files.js';
import { KeyedLock, type StoreContext } from './context.js';
import type { Resolver } from './resolver.js';
import type { ReplyRefusals } from '../agents/transport/reply-guard.js';

type OfferBody = z.infer<typeof ContractOfferSchema>;
type CompleteBody = z.infer<typeof ContractCompleteSchema>;

/** States in which the store holds a contract signed by both parties. */
const HOLDS_CONTRACT = new Set(['complete', 'resolved']);
/** States after which the exchange binds nobody, so the session may see another contract. */
const ENDED_UNBOUND = new Set(['aborted', 'expired']);
/** How many countersigned contracts' session keys wait in memory for their complete. */
const KEYS_KEPT = 512;

interface Operation<S extends z.ZodObject> {
  type: string;
  schema: S;
  handle(req: OpenedRequest<z.infer<S>>): Promise<unknown>;
  /** the answer to a replay of a request that succeeded (default: the reply given then) */
  replay?(req: OpenedRequest<z.infer<S>>): unknown;
}

function notKnown(requestId: string): never {
  throw parleyError('ERR_REPLAY', `request ${requestId} was already received`);
}

export class ContractDesk {
  private subs: Subscription[] = [];
  private readonly merchantHeader: string;
  /** offers and completions handled (tests check optimism and replays with it) */
  readonly handled = { offer: 0, complete: 0 };
  /**
   * The session key that the payload check found for each contract this process
   * countersigned, oldest first, until its complete: that is all a complete needs, and the
   * payload (bound to the contract id, its hash) was checked in full before it was stored.
   * Checked again, it cost the store that wins a session's contract a third of its contract
   * work. After a restart, or once KEYS_KEPT newer ones came, the stored payload is checked again.
   */
  private readonly countersigned = new Map<string, ContractFacts['session']>();

  constructor(
    private readonly ctx: StoreContext,
    private readonly resolver: Resolver,
    private readonly lock: KeyedLock,
    private readonly refusals: ReplyRefusals,
  ) {
    this.merchantHeader = merchantProtected([parseCertificate(ctx.self.certPem).der]);
  }

  start(): void {
    const { ctx } = this;
    const queue = queueGroup(`store-${ctx.self.id}`);
    const offer: Operation<typeof ContractOfferSchema> = {
      type: CONTRACT_OFFER_TYPE,
      schema: ContractOfferSchema,
      handle: (r) => this.offer(r),
      // answered from the contract record, which refuses once the exchange ended unbound
      replay: (r) => this.knownOffer(contractIdOf(r.body.payload), r.signer.id, r.body) ?? notKnown(r.body.id),
    };
    const complete: Operation<typeof ContractCompleteSchema> = { type: CONTRACT_COMPLETE_TYPE, schema: ContractCompleteSchema, handle: (r) => this.complete(r) };
    this.subs = [
      ctx.nc.subscribe(subjects.storeContract(ctx.self.id, 'offer'), { queue, callback: (err, msg) => this.serve(err, msg, offer) }),
      ctx.nc.subscribe(subjects.storeContract(ctx.self.id, 'complete'), { queue, callback: (err, msg) => this.serve(err, msg, complete) }),
    ];
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.subs.map((s) => s.drain()));
  }

  private serve<S extends z.ZodObject>(err: Error | null, msg: Msg, op: Operation<S>): void {
    if (err) return this.ctx.log(`${op.type}: ${err.message}`);
    void (async () => {
      let reply: Uint8Array;
      try {
        const req = openRequest(op.type, op.schema, msg.data, { trust: this.ctx.trust, roles: ['buyer'], audience: this.ctx.self.id });
        // answered (and acted on) only for a reply in the signing buyer's own inbox
        if (!this.refusals.allow(op.type, msg.reply, req.signer.id)) return;
        reply = await this.once(op, req);
      } catch (e) {
        if (!isParleyError(e)) this.ctx.log(`${op.type}: internal error: ${(e as Error).message}`);
        if (!this.refusals.allow(op.type, msg.reply)) return;
        reply = errorReply(e);
      }
      msg.respond(reply);
    })();
  }

  /** Acts on a request id at most once; a replay gets the reply already given. A failure leaves no trace. */
  private async once<S extends z.ZodObject>(op: Operation<S>, req: OpenedRequest<z.infer<S>>): Promise<Uint8Array> {
    const { seen } = this.ctx;
    const id = req.body.id;
    const claim = { type: op.type, signer: req.signer.id, at: new Date().toISOString() };
    if (!seen.claim(id, claim)) {
      const prior = seen.seen(id);
      if (prior?.reply && prior.type === op.type && prior.signer === req.signer.id) {
        return op.replay ? okReply(op.replay(req)) : Buffer.from(prior.reply, 'base64');
      }
      notKnown(id);
    }
    let body: unknown;
    try {
      body = await op.handle(req);
    } catch (e) {
      seen.drop(id);
      throw e;
    }
    const reply = okReply(body);
    await seen.saveReply(id, { ...claim, reply: Buffer.from(reply).toString('base64') });
    return reply;
  }

  // ---- offer: check, store, countersign ---------------------------------------------------

  private async offer(req: OpenedRequest<OfferBody>): Promise<ContractOfferReply> {
    const { body, signer } = req;
    const id = contractIdOf(body.payload);
    // the same contract again (the buyer lost the reply): the same answer, nothing new done
    const known = this.knownOffer(id, signer.id, body);
    if (known) return known;
    const facts = assertContractPayload(body.payload, this.ctx.ca);
    const p = facts.payload;
    this.checkOffer(req, facts);
    const r = await this.lock.run(`sn:${p.sn}`, () => this.countersign(id, body, facts));
    if (r.fresh) {
      this.countersigned.set(id, facts.session);
      if (this.countersigned.size > KEYS_KEPT) this.countersigned.delete(this.countersigned.keys().next().value!);
      this.handled.offer++;
      this.ctx.log(`session ${p.sn}: countersigned contract ${id} with ${signer.id} (${p.terms.quantity} × ${p.terms.item} at ${p.terms.price} ${p.terms.currency})`);
    }
    return r.reply;
  }

  /**
   * The stored answer for a contract this store already countersigned for this buyer, as
   * long as the store can still obtain the buyer's signature: SG_S is never handed out for
   * an exchange that was aborted or can no longer be resolved.
   */
  private knownOffer(id: string, buyer: string, body: { sg1: string; protected: string }): ContractOfferReply | undefined {
    const rec = this.ctx.files.contract(id);
    if (!rec || rec.buyer !== buyer || rec.sg1 !== body.sg1 || rec.protected !== body.protected) return undefined;
    if (rec.state === 'aborted') throw parleyError('ERR_EXCHANGE_ABORTED', `the exchange of contract ${id} was aborted`);
    if (rec.state === 'expired' || (rec.state === 'countersigned' && Date.now() >= Date.parse(rec.exchangeDeadline))) {
      throw parleyError('ERR_EXCHANGE_DEADLINE', `the exchange deadline of contract ${id} has passed`);
    }
    return { contractId: id, merchantSignature: rec.merchantSignature };
  }

  private checkOffer(req: OpenedRequest<OfferBody>, facts: ContractFacts): void {
    const { ctx } = this;
    const { body, signer } = req;
    const p = facts.payload;
    const now = Date.now();
    if (p.merchant.id !== ctx.self.id || !equalBytes(facts.merchant.publicKey, ctx.self.publicKey)) {
      throw parleyError('ERR_FORBIDDEN', `the contract is for merchant ${p.merchant.id}, not this store's key`);
    }
    if (p.buyer.id !== signer.id || !equalBytes(facts.buyer.publicKey, signer.publicKey)) {
      throw parleyError('ERR_FORBIDDEN', `the contract names buyer ${p.buyer.id}; the request is signed by ${signer.id}`);
    }
    checkBuyerHeader(body.protected, facts.session);
    if (!isParleyBuyerHeader(body.protected, facts.session)) throw parleyError('ERR_CONTRACT_INVALID', "unexpected buyer's protected header (RS256 with the session key as jwk, parley-contract+jws expected)");

    const offer = ctx.offers.offer(p.sn);
    if (!offer) throw parleyError('ERR_TERMS_MISMATCH', `this store made no offer in session ${p.sn}`);
    if (p.home.id !== offer.home) throw parleyError('ERR_VOUCHER_INVALID', `the contract's Agent Home is ${p.home.id}; this store negotiated at ${offer.home}`);
    if (canonicalJson(p.request) !== canonicalJson(offer.request) || Date.parse(p.deadline) !== Date.parse(offer.deadline)) {
      throw parleyError('ERR_REQUEST_INVALID', 'the contract states another request or deadline than the Agent Home invited this store for');
    }
    if (canonicalJson(p.bidProof.offer) !== canonicalJson(offer.offer)) throw parleyError('ERR_TERMS_MISMATCH', 'the bid proof is not the offer this store made in the session');
    // the proof's chain is anchored in this offer's K[1], so reveal i is this store's bid i
    const committed = offer.bids[p.bidProof.reveals.length - 1];
    if (!committed || canonicalJson(committed) !== canonicalJson(p.terms)) throw parleyError('ERR_TERMS_MISMATCH', 'the terms are not the bid this store committed to at that position');

    const issuedAt = Date.parse(p.issuedAt);
    if (!(Math.abs(now - issuedAt) <= MAX_CLOCK_SKEW_MS)) throw parleyError('ERR_STALE', `the contract was issued at ${p.issuedAt}, more than ${MAX_CLOCK_SKEW_MS / 1000} s from now`);
    const completeBy = Date.parse(p.completeBy);
    const exchangeDeadline = Date.parse(p.exchangeDeadline);
    if (!(completeBy >= now)) throw parleyError('ERR_EXCHANGE_DEADLINE', `completeBy ${p.completeBy} has passed`);
    if (!(exchangeDeadline > completeBy)) throw parleyError('ERR_CONTRACT_INVALID', 'the exchange deadline must come after completeBy, or the store could not resolve');

    if (!checkPartialSignature(facts, body.payload, body.protected, body.sg1)) throw parleyError('ERR_PARTIAL_SIGNATURE_INVALID', 'SG1^e1 ≢ m (mod n): the partial signature is not over this contract');
  }

  /** Stores the exchange (once per contract, one live contract per session), then signs. */
  private async countersign(id: string, body: OfferBody, facts: ContractFacts): Promise<{ reply: ContractOfferReply; fresh: boolean }> {
    const { files, config } = this.ctx;
    const p = facts.payload;
    const existing = files.contract(id);
    if (existing) return { reply: this.knownOffer(id, existing.buyer, existing)!, fresh: false };

    const other = files.sessionContract(p.sn);
    if (other && other !== id) {
      const prior = files.contract(other);
      // a claim without its record: the store died between the two writes below, having signed nothing
      if (prior && !ENDED_UNBOUND.has(prior.state)) {
        throw parleyError('ERR_EXCHANGE_STATE', `this store already signed contract ${other} in session ${p.sn}`);
      }
    }

    const now = Date.now();
    const merchantSignature = signMerchant(this.merchantHeader, body.payload, this.ctx.self.secretKey);
    const resolveAt = Math.min(Date.parse(p.completeBy), now + config.completeTimeoutMs);
    const rec: ContractRecord = {
      v: 1,
      contractId: id,
      state: 'countersigned',
      sn: p.sn,
      home: p.home.id,
      buyer: p.buyer.id,
      terms: p.terms,
      issuedAt: p.issuedAt,
      completeBy: p.completeBy,
      exchangeDeadline: p.exchangeDeadline,
      resolveAt: new Date(resolveAt).toISOString(),
      payload: body.payload,
      protected: body.protected,
      sg1: body.sg1,
      merchantSignature,
      countersignedAt: new Date(now).toISOString(),
      updated: new Date(now).toISOString(),
    };
    // the session is claimed first: a store killed between the two writes has a claim without
    // a contract (harmless, see above), never a contract the session does not know of, which
    // would let a second contract of the same session through
    if (other !== id && !(await files.claimSession(p.sn, id))) await files.reassignSession(p.sn, id);
    // durable before SG_S leaves: a store that restarts still knows it must resolve
    if (!(await files.createContract(rec))) {
      const raced = files.contract(id)!;
      return { reply: this.knownOffer(id, raced.buyer, raced)!, fresh: false };
    }
    this.resolver.arm(rec);
    return { reply: { contractId: id, merchantSignature }, fresh: true };
  }

  // ---- complete: the buyer's full signature ----------------------------------------------

  private async complete(req: OpenedRequest<CompleteBody>): Promise<{ contractId: string; accepted: true }> {
    const { ctx } = this;
    const { body, signer } = req;
    const id = body.contractId;
    const result = await this.lock.run(`c:${id}`, async () => {
      const rec = ctx.files.contract(id);
      if (!rec || rec.buyer !== signer.id) throw parleyError('ERR_NOT_FOUND', `no contract ${id} with ${signer.id}`);
      if (HOLDS_CONTRACT.has(rec.state)) return { contractId: id, accepted: true as const, fresh: false };
      const session = this.countersigned.get(id) ?? assertContractPayload(rec.payload, ctx.ca).session;
      const jws = assembleContractJws(rec.payload, buyerSignature(rec.protected, fromB64u(body.sg, 'sg')), rec.merchantSignature);
      if (!checkBuyerSignature(jws, session)) throw parleyError('ERR_JWS_SIGNATURE_INVALID', 'SG is not a valid RS256 signature of this contract under the session key');
      await ctx.files.saveContract({ ...rec, state: 'complete', sg: body.sg, contract: jws, updated: new Date().toISOString() });
      this.countersigned.delete(id);
      this.resolver.cancel(id);
      return { contractId: id, accepted: true as const, fresh: true };
    });
    if (result.fresh) {
      this.handled.complete++;
      ctx.log(`contract ${id} complete: ${signer.id} sent its signature`);
    }
    return { contractId: result.contractId, accepted: true };
  }
}
