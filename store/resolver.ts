/**
 * Phase 4 from the merchant's side: a contract the store countersigned whose complete
 * signature SG has not come by its resolve time (the contract's completeBy, or earlier when
 * the store's completeTimeoutMs runs out first) is resolved through the Agent Home:
 *
 *   resolve  merchant → AH {payload, protected, sg1, merchantSignature}
 *            → resolved {sg}: checked to complete the JWS under the session key, stored
 *            → aborted {token}: checked with the Agent Home's key, kept as proof
 *
 * Failures are retried with backoff until the exchange deadline; after it the exchange is
 * expired (the Agent Home no longer resolves, and the buyer is not bound). Timers are
 * re-armed from the contract records at start, so a store killed between countersigning
 * and receiving SG resolves after its restart.
 */
import { call } from '../agents/transport/rpc.js';
import { fromB64u } from '../crypto/bytes.js';
import { assembleContractJws, buyerSignature, checkBuyerSignature } from '../crypto/jws.js';
import { errorToWire, parleyError } from '../protocol/errors.js';
import { signRequest } from '../protocol/signed-request.js';
import { subjects } from '../protocol/subjects.js';
import { assertContractPayload } from '../protocol/contract.js';
import { openAbortToken, RESOLVE_TYPE, ResolveReplySchema, type ResolveReply } from '../protocol/exchange.js';
import type { ContractRecord } from './files.js';
import { backoffDelay } from '../agents/transport/retry.js';
import { codeOf, sleep, type KeyedLock, type StoreContext } from './context.js';

const RESOLVE_TIMEOUT_MS = 10_000;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;
/** setTimeout's limit; longer waits are re-armed in steps */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Resolver {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<void>>();
  /** resolve requests sent (tests) */
  attempts = 0;

  constructor(
    private readonly ctx: StoreContext,
    private readonly lock: KeyedLock,
  ) {}

  /** Schedules the resolve of a countersigned contract at its resolve time. */
  arm(rec: ContractRecord): void {
    if (rec.state !== 'countersigned' || this.ctx.stopping.aborted) return;
    this.cancel(rec.contractId);
    const delay = Date.parse(rec.resolveAt) - Date.now();
    const t = setTimeout(() => {
      this.timers.delete(rec.contractId);
      if (delay > MAX_TIMER_MS) return this.arm(rec);
      this.start(rec.contractId);
    }, Math.min(Math.max(0, delay), MAX_TIMER_MS));
    this.timers.set(rec.contractId, t);
  }

  cancel(contractId: string): void {
    const t = this.timers.get(contractId);
    if (t) clearTimeout(t);
    this.timers.delete(contractId);
  }

  /** Re-arms every countersigned contract (at start). */
  resumeAll(): void {
    for (const id of this.ctx.files.contractIds()) {
      const rec = this.ctx.files.contract(id);
      if (rec?.state === 'countersigned') this.arm(rec);
    }
  }

  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running.values()]);
  }

  private start(id: string): void {
    if (this.running.has(id)) return;
    const p = this.run(id)
      .catch((err) => this.ctx.log(`contract ${id}: resolve failed: ${(err as Error).message}`))
      .finally(() => this.running.delete(id));
    this.running.set(id, p);
  }

  private async run(id: string): Promise<void> {
    const { ctx } = this;
    for (let attempt = 1; !ctx.stopping.aborted; attempt++) {
      const rec = ctx.files.contract(id);
      if (!rec || rec.state !== 'countersigned') return;
      const deadline = Date.parse(rec.exchangeDeadline);
      if (Date.now() >= deadline) {
        await this.settle(id, (r) => ({ ...r, state: 'expired' }));
        ctx.log(`contract ${id}: the exchange deadline passed without the buyer's signature; expired`);
        return;
      }
      try {
        const outcome = await this.ask(rec);
        const done = await this.apply(rec, outcome);
        ctx.log(`contract ${id}: ${done}`);
        return;
      } catch (err) {
        const code = codeOf(err);
        if (code === 'ERR_EXCHANGE_DEADLINE') {
          await this.settle(id, (r) => ({ ...r, state: 'expired', lastError: errorToWire(err) }));
          ctx.log(`contract ${id}: the Agent Home no longer resolves (deadline passed); expired`);
          return;
        }
        await this.settle(id, (r) => ({ ...r, resolveAttempts: (r.resolveAttempts ?? 0) + 1, lastError: errorToWire(err) }));
        ctx.log(`contract ${id}: resolve not done (${code}: ${(err as Error).message}); retrying`);
        await sleep(Math.min(backoffDelay(attempt, FIRST_RETRY_MS, MAX_RETRY_MS), Math.max(0, deadline - Date.now())), ctx.stopping);
      }
    }
  }

  private async ask(rec: ContractRecord): Promise<ResolveReply> {
    const { ctx } = this;
    this.attempts++;
    const req = signRequest(RESOLVE_TYPE, { payload: rec.payload, protected: rec.protected, sg1: rec.sg1, merchantSignature: rec.merchantSignature }, rec.home, ctx.self);
    return call(ctx.nc, subjects.home(rec.home, 'resolve'), req, ResolveReplySchema, RESOLVE_TIMEOUT_MS);
  }

  /** Checks the Agent Home's answer and stores it; returns what happened, for the log. */
  private async apply(rec: ContractRecord, outcome: ResolveReply): Promise<string> {
    const id = rec.contractId;
    if (outcome.contractId !== id) throw parleyError('ERR_CONTRACT_INVALID', `the Agent Home answered for contract ${outcome.contractId}`);
    const facts = assertContractPayload(rec.payload, this.ctx.ca);
    if (outcome.outcome === 'resolved') {
      const jws = assembleContractJws(rec.payload, buyerSignature(rec.protected, fromB64u(outcome.sg, 'sg')), rec.merchantSignature);
      if (!checkBuyerSignature(jws, facts.session)) throw parleyError('ERR_JWS_SIGNATURE_INVALID', "the Agent Home's SG does not complete the contract");
      const state = await this.settle(id, (r) => ({ ...r, state: 'resolved', sg: outcome.sg, contract: jws, lastError: undefined }));
      return state === 'resolved' ? 'resolved by the Agent Home; the contract is complete' : `already ${state}`;
    }
    const token = openAbortToken(outcome.token, facts.home.publicKey);
    if (token.contractId !== id || token.sn !== rec.sn || token.merchant !== this.ctx.self.id || token.home !== rec.home) {
      throw parleyError('ERR_EXCHANGE_ABORTED', 'the abort token is for another exchange');
    }
    const state = await this.settle(id, (r) => ({ ...r, state: 'aborted', token: outcome.token, lastError: undefined }));
    return state === 'aborted' ? `the buyer aborted the exchange at ${token.at}; nobody is bound` : `already ${state}`;
  }

  /**
   * Updates the record while it is still countersigned (a complete signature that arrived
   * meanwhile wins); returns the state that holds afterwards.
   */
  private settle(id: string, fn: (r: ContractRecord) => ContractRecord): Promise<string> {
    return this.lock.run(`c:${id}`, async () => {
      const cur = this.ctx.files.contract(id);
      if (!cur) return 'missing';
      if (cur.state !== 'countersigned') return cur.state;
      const next = fn(cur);
      await this.ctx.files.saveContract({ ...next, updated: new Date().toISOString() });
      return next.state;
    });
  }
}
