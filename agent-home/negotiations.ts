/**
 * Phase 2 on the Agent Home: a Sales Agent arrives (durably accepted by the host runtime),
 * is checked (merchant certificate via the runtime, SG_MSG, open session), is assigned to
 * the session's Negotiation Agent, and the rounds run. The outcome — every round, and the
 * agreement with its proof — is stored before the agent's work is marked done, so a crash
 * re-runs the same deterministic rounds and the create-if-absent writes keep one result.
 * The re-run is the same Sales Agent finishing its own bookkeeping: the negotiation record
 * names its agent, and only another agent for the same merchant and session is a replay.
 */
import { negotiate } from '../agents/negotiation.js';
import { checkSalesAgent, openSalesAgent, SALES_KIND } from '../agents/sales.js';
import type { ArrivedAgent, KindBehaviour } from '../agents/runtime/host.js';
import { crashPoint } from '../agents/crash-point.js';
import { parleyError } from '../protocol/errors.js';
import type { Agreement } from '../protocol/directory.js';
import type { HomeContext } from './context.js';
import type { NegotiationRecord, SessionRecord } from './state.js';
import { sessionRules } from './escrow.js';

export { SALES_KIND };

export function salesBehaviour(ctx: HomeContext): KindBehaviour {
  // the session as `check` read it, for `visit` of the same arrival: visit uses only its
  // request and deadline, which never change once the session exists
  const checkedSessions = new WeakMap<ArrivedAgent, SessionRecord>();
  return {
    issuerRoles: ['merchant'],
    check: async (a: ArrivedAgent) => {
      const sa = checkSalesAgent(a);
      // the copy this process last wrote saves a read (the Invite Agent's return wrote it
      // just before); a merchant it does not list as invited is looked up as stored
      let session = await ctx.state.recentSession(sa.offer.sn);
      if (session && !session.invited.includes(sa.merchant)) session = await ctx.state.session(sa.offer.sn);
      if (!session || session.home !== ctx.self.id) throw parleyError('ERR_SESSION_UNKNOWN', `no session ${sa.offer.sn} here`);
      if (!session.invited.includes(sa.merchant)) throw parleyError('ERR_FORBIDDEN', `${sa.merchant} was not invited to session ${sa.offer.sn}`);
      checkedSessions.set(a, session);
      const done = await ctx.state.negotiation(sa.offer.sn, sa.merchant);
      if (done) {
        // this very agent, accepted before a crash that came before the session recorded its
        // outcome: it is let through to finish that (even after the deadline)
        const stored = await ctx.state.session(sa.offer.sn);
        if (done.agent === a.envelope.id && stored && !(sa.merchant in stored.negotiated)) return;
        throw parleyError('ERR_REPLAY', `${sa.merchant} has already negotiated in session ${sa.offer.sn}`);
      }
      if (Date.parse(session.deadline) <= Date.now()) throw parleyError('ERR_DEADLINE_PASSED', `session ${sa.offer.sn} closed at ${session.deadline}`);
    },
    visit: async (a: ArrivedAgent) => {
      const sa = openSalesAgent(a);
      const sn = sa.offer.sn;
      const session = checkedSessions.get(a) ?? (await ctx.state.session(sn))!;
      const outcome = negotiate({ request: session.request, rules: await sessionRules(ctx, sn), offer: sa.offer, reveals: sa.reveals, deadline: new Date(session.deadline) });
      const record: NegotiationRecord = {
        sn,
        merchant: sa.merchant,
        agent: a.envelope.id,
        merchantCert: sa.merchantCert,
        offer: sa.signedOffer,
        template: sa.offer.msg.template,
        k: sa.offer.msg.k,
        status: outcome.status,
        rounds: outcome.rounds,
        ...(outcome.error ? { error: outcome.error } : {}),
        at: new Date().toISOString(),
      };
      // the record that holds: ours when the create took, else the one a previous run stored
      const stored = (await ctx.state.createOnce(ctx.state.negotiations, `${sn}.${sa.merchant}`, record)) ? record : (await ctx.state.negotiation(sn, sa.merchant))!;
      crashPoint('home:sales:after-negotiation');
      const agreed = stored.status === 'agreed' ? stored.rounds[stored.rounds.length - 1] : undefined;
      if (agreed) {
        const agreement: Agreement = {
          sn,
          merchant: sa.merchant,
          merchantCert: sa.merchantCert,
          template: stored.template,
          bid: agreed.bid,
          index: agreed.index,
          k: stored.k,
          utility: agreed.utility,
          proof: { offer: stored.offer as Agreement['proof']['offer'], reveals: stored.rounds.map((r) => ({ bid: r.bid, next: r.next })) },
          at: stored.at,
        };
        await ctx.state.createAgreement(agreement);
      }
      // logged before the session records it: once the session has it, a restart no longer lets this agent through
      const key = `${sn}.${sa.merchant}`;
      await ctx.audit.append('negotiation', key, { merchant: sa.merchant, agent: stored.agent ?? a.envelope.id, status: stored.status, rounds: stored.rounds.length, k: stored.k }, sn);
      if (agreed) await ctx.audit.append('agreement', key, { merchant: sa.merchant, index: agreed.index, k: stored.k, terms: { ...agreed.bid } }, sn);
      await ctx.state.updateSession(sn, (s) => ({
        ...s,
        negotiated: { ...s.negotiated, [sa.merchant]: { status: stored.status, rounds: stored.rounds.length } },
        agreed: agreed ? [...new Set([...s.agreed, sa.merchant])] : s.agreed,
      }));
      ctx.log(`session ${sn}: ${sa.merchant} ${stored.status} after ${stored.rounds.length} of ${stored.k} bids`);
      // the Sales Agent's journey ends here; nothing about the verdicts goes back
      return { note: 'negotiated', stay: true };
    },
  };
}
