/**
 * Phase 1b at a merchant host: an Invite Agent arrives (verified by the runtime and by
 * `openInvitation`: SG_REQ, the voucher, the deadline), the store decides whether it can
 * serve the request and, if so, issues its Sales Agent: the concession list committed in a
 * hash chain, MSG and SG_MSG (agents/sales.ts).
 *
 * Exactly one Sales Agent per session: the offer record (offer-book.ts) is created once,
 * durably, before the agent leaves, and a second invitation (the same Invite Agent again,
 * or another one for the same session) finds it and issues nothing new. The agent is sent
 * after the visit, so the Invite Agent's journey never waits for it, and re-sent with
 * backoff until the Agent Home acknowledges it (also after a restart). The Agent Home
 * de-duplicates by agent id and hop, and refuses a second negotiation per merchant and
 * session with ERR_REPLAY, which means it already has this offer.
 */
import { call } from '../agents/transport/rpc.js';
import { AckSchema, type ArrivedAgent, type KindBehaviour } from '../agents/runtime/host.js';
import { openInvitation, type Invitation } from '../agents/invite.js';
import { createSalesAgent, type SalesPayload } from '../agents/sales.js';
import { parleyError, errorToWire } from '../protocol/errors.js';
import { subjects } from '../protocol/subjects.js';
import { findOffer, bidsFor } from './catalogue.js';
import type { CatalogueEntry } from './config.js';
import type { OfferRecord } from './offer-book.js';
import { backoffDelay } from '../agents/transport/retry.js';
import { codeOf, sleep, TRANSIENT_CODES, type StoreContext } from './context.js';

/** How long the Agent Home has to acknowledge a Sales Agent. */
const SEND_TIMEOUT_MS = 5000;
const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 5000;

/** The store's behaviour for Invite Agents. */
export function inviteBehaviour(ctx: StoreContext, dispatcher: SalesDispatcher): KindBehaviour {
  // the invitation as `check` opened it, for `visit` of the same arrival (work resumed after
  // a restart is checked again, and opens it again)
  const opened = new WeakMap<ArrivedAgent, Invitation>();
  return {
    issuerRoles: ['agent-home'],
    check: (agent) => {
      const inv = openInvitation(agent);
      if (inv.home !== ctx.config.home) throw parleyError('ERR_FORBIDDEN', `invitation from Agent Home ${inv.home}; this store serves ${ctx.config.home}`);
      opened.set(agent, inv);
    },
    visit: async (agent) => {
      // the visit must always end with a note, or the Invite Agent would stay here
      try {
        return { note: await visit(ctx, dispatcher, agent, opened.get(agent)) };
      } catch (err) {
        ctx.log(`invitation ${agent.envelope.id}: declined after an error: ${(err as Error).message}`);
        return { note: 'declined' };
      }
    },
  };
}

async function visit(ctx: StoreContext, dispatcher: SalesDispatcher, agent: ArrivedAgent, checked?: Invitation): Promise<'interested' | 'declined'> {
  // its deadline may have passed since the check: checked again
  const inv = checked && checked.deadline.getTime() > Date.now() ? checked : openInvitation(agent);
  const entry = findOffer(ctx.config, inv.request);
  if (!entry) {
    const reason = `${inv.request.quantity} × ${inv.request.item} in ${inv.request.currency} is not on offer`;
    ctx.log(`session ${inv.sn}: declined (${reason})`);
    // the visit does not wait for it: a lazy record goes out with the next synced batch
    void ctx.offers
      .setDeclined({ v: 1, sn: inv.sn, home: inv.home, request: inv.request, deadline: inv.deadline.toISOString(), at: new Date().toISOString(), reason })
      .catch((err: unknown) => ctx.log(`session ${inv.sn}: decline not recorded: ${(err as Error).message}`));
    return 'declined';
  }
  const rec = await ensureOffer(ctx, inv, entry);
  dispatcher.schedule(rec.sn, rec);
  return 'interested';
}

/** The session's offer record: the existing one, or a new one with a new Sales Agent. */
export async function ensureOffer(ctx: StoreContext, inv: Invitation, entry: CatalogueEntry): Promise<OfferRecord> {
  const existing = ctx.offers.offer(inv.sn);
  if (existing) return existing;
  const bids = bidsFor(entry, inv.request);
  const now = Date.now();
  const expiry = new Date(Math.min(inv.deadline.getTime(), now + ctx.config.offerTtlMs));
  const { envelope } = createSalesAgent(ctx.self, { sn: inv.sn, home: inv.home, template: ctx.config.template, bids, expiry });
  const payload = envelope.payload as SalesPayload;
  const rec: OfferRecord = {
    v: 1,
    sn: inv.sn,
    home: inv.home,
    item: entry.item,
    request: inv.request,
    deadline: inv.deadline.toISOString(),
    createdAt: new Date(now).toISOString(),
    expiry: expiry.toISOString(),
    bids,
    tail: payload.tail,
    k1: payload.offer.body.k1,
    offer: payload.offer,
    agent: envelope,
  };
  if (await ctx.offers.createOffer(rec)) {
    ctx.log(`session ${inv.sn}: interested; Sales Agent ${envelope.id} with ${bids.length} bids for ${inv.request.quantity} × ${entry.item}`);
    return rec;
  }
  return ctx.offers.offer(inv.sn)!;
}

/** Delivers Sales Agents to their Agent Home, retrying until acknowledged, refused or expired. */
export class SalesDispatcher {
  private readonly inflight = new Map<string, Promise<void>>();
  /**
   * Sales Agents the Agent Home has (tests and logs): acknowledged, or refused as already
   * negotiated (its acknowledgement was lost and another process negotiated it meanwhile)
   */
  delivered = 0;

  constructor(private readonly ctx: StoreContext) {}

  /**
   * Sends the session's Sales Agent soon (after the current visit), unless it is on its way
   * or done. `rec`: its offer record when the caller has it (else it is read from disk).
   */
  schedule(sn: string, rec?: OfferRecord): void {
    if (this.inflight.has(sn) || this.ctx.stopping.aborted || this.ctx.offers.dispatched(sn)) return;
    const p = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.run(sn, rec))
      .catch((err) => this.ctx.log(`session ${sn}: Sales Agent not sent: ${(err as Error).message}`))
      .finally(() => this.inflight.delete(sn));
    this.inflight.set(sn, p);
  }

  /** Offers whose Sales Agent was never acknowledged (a previous run stopped first); `schedule` skips the others. */
  resumeAll(): void {
    for (const sn of this.ctx.offers.sessions()) this.schedule(sn);
  }

  async idle(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight.values()]);
  }

  private async run(sn: string, known?: OfferRecord): Promise<void> {
    const { ctx } = this;
    // `schedule` found no dispatch record, and only this run writes one
    const rec = known ?? ctx.offers.offer(sn);
    if (!rec) return;
    const expires = Date.parse(rec.agent.header.body.expires);
    for (let attempt = 1; !ctx.stopping.aborted; attempt++) {
      if (Date.now() >= expires) {
        await ctx.offers.setDispatch(sn, { state: 'expired', at: new Date().toISOString(), detail: 'the Sales Agent expired before the Agent Home acknowledged it' });
        ctx.log(`session ${sn}: Sales Agent ${rec.agent.id} expired undelivered`);
        return;
      }
      try {
        const ack = await call(ctx.nc, subjects.hostArrive(rec.home), rec.agent, AckSchema, SEND_TIMEOUT_MS);
        // counted at once: the record below is lazy, and may take a moment
        this.delivered++;
        await ctx.offers.setDispatch(sn, { state: 'delivered', at: new Date().toISOString(), detail: ack.duplicate ? 'acknowledged (already there)' : 'acknowledged' });
        ctx.log(`session ${sn}: Sales Agent ${rec.agent.id} delivered to ${rec.home}`);
        return;
      } catch (err) {
        const code = codeOf(err);
        if (code === 'ERR_REPLAY') {
          // the Agent Home already negotiated with this store's offer for the session
          this.delivered++;
          await ctx.offers.setDispatch(sn, { state: 'delivered', at: new Date().toISOString(), detail: 'the Agent Home had already negotiated it' });
          ctx.log(`session ${sn}: the Agent Home already negotiated with Sales Agent ${rec.agent.id}`);
          return;
        }
        if (!TRANSIENT_CODES.has(code)) {
          await ctx.offers.setDispatch(sn, { state: 'refused', at: new Date().toISOString(), error: errorToWire(err) });
          ctx.log(`session ${sn}: the Agent Home refused Sales Agent ${rec.agent.id}: ${(err as Error).message} (${code})`);
          return;
        }
        if (attempt === 1) ctx.log(`session ${sn}: Sales Agent not acknowledged yet (${code}); retrying`);
        await sleep(Math.min(backoffDelay(attempt, FIRST_RETRY_MS, MAX_RETRY_MS), expires - Date.now()), ctx.stopping);
      }
    }
  }
}
