/**
 * Phase 1b from the Agent Home's side: choose the itinerary from the merchant directory,
 * send the Invite Agent, take it back home (its verified visit log says who was interested),
 * and when an Invite Agent is lost, invite the hosts it never reached again.
 */
import { createInviteAgent, INVITE_KIND, type InvitePayload } from '../agents/invite.js';
import type { ArrivedAgent, KindBehaviour } from '../agents/runtime/host.js';
import type { LostAgent } from '../agents/runtime/tracker.js';
import type { HomeContext } from './context.js';
import type { SessionRecord } from './state.js';

/** Slack for the trip home on top of every hop's timeout. */
const RETURN_SLACK_MS = 5000;

function payloadOf(s: SessionRecord): InvitePayload {
  return { sn: s.sn, request: s.request, deadline: s.deadline, voucher: s.voucher as InvitePayload['voucher'], sgReq: s.sgReq as InvitePayload['sgReq'] };
}

/** Sends an Invite Agent to `hosts` (default: every merchant selling the category). */
export async function inviteMerchants(ctx: HomeContext, sn: string, hosts?: string[]): Promise<void> {
  const session = await ctx.state.session(sn);
  if (!session || Date.parse(session.deadline) <= Date.now()) return;
  const itinerary = hosts ?? (await ctx.state.merchants()).filter((m) => m.categories.includes(session.request.category)).map((m) => m.id).slice(0, ctx.settings.maxInvited);
  if (itinerary.length === 0) {
    if (!hosts) await ctx.state.updateSession(sn, (s) => ({ ...s, nobodyToInvite: true }));
    ctx.log(`session ${sn}: no merchant sells ${session.request.category}`);
    return;
  }
  const env = createInviteAgent(ctx.self, payloadOf(session), { itinerary, hopTimeoutMs: ctx.settings.hopTimeoutMs, expires: new Date(session.deadline) });
  await ctx.state.updateSession(sn, (s) => ({
    ...s,
    invites: [...s.invites, env.id],
    invited: [...new Set([...s.invited, ...itinerary])],
    invitesOut: s.invitesOut + 1,
  }));
  await ctx.tracker.track(env, itinerary.length * ctx.settings.hopTimeoutMs * 2 + RETURN_SLACK_MS);
  ctx.log(`session ${sn}: Invite Agent ${env.id} to ${itinerary.join(', ')}`);
  await ctx.host.dispatch(env);
}

/** The Invite Agent's behaviour on the Agent Home: coming home. */
export function inviteBehaviour(ctx: HomeContext): KindBehaviour {
  return {
    issuerRoles: ['agent-home'],
    check: (a) => {
      if (a.issuer.id !== ctx.self.id) throw new Error('not our Invite Agent');
    },
    home: async (a: ArrivedAgent) => {
      const sn = a.header.sn!;
      await ctx.tracker.markHome(a.envelope.id, a.visits);
      await ctx.state.updateSession(sn, (s) =>
        s.invites.includes(a.envelope.id)
          ? {
              ...s,
              invitesOut: Math.max(0, s.invitesOut - 1),
              visits: [...s.visits, ...a.visits],
              interested: [...new Set([...s.interested, ...a.visits.filter((v) => v.event === 'visited' && v.note === 'interested').map((v) => v.host)])],
            }
          : undefined,
      );
      ctx.log(`session ${sn}: Invite Agent ${a.envelope.id} home after ${a.visits.length} records`);
    },
  };
}

/** A lost Invite Agent: the hosts it never reached are invited again (a bounded number of times). */
export async function onLostAgent(ctx: HomeContext, lost: LostAgent): Promise<void> {
  if (lost.agent.kind !== INVITE_KIND || !lost.agent.sn) return;
  const sn = lost.agent.sn;
  const s = await ctx.state.updateSession(sn, (x) => (x.invites.includes(lost.agent.id) ? { ...x, invitesOut: Math.max(0, x.invitesOut - 1) } : undefined));
  if (!s) return;
  ctx.log(`session ${sn}: Invite Agent ${lost.agent.id} lost; not reached: ${lost.unreached.join(', ') || 'none'}`);
  if (lost.unreached.length && s.invites.length <= ctx.settings.reinviteRounds) await inviteMerchants(ctx, sn, lost.unreached);
}
