/**
 * Phase 1b from the Agent Home's side: choose the itinerary from the merchant directory,
 * send the Invite Agent, take it back home (its verified visit log says who was interested),
 * and when an Invite Agent is lost, invite the hosts it never reached again.
 *
 * Crash safety. An Invite Agent is written into its session — id, hosts, and the envelope
 * itself in `pendingInvites` — by the same compare-and-set that claims the invitation, before
 * it is tracked and sent; it leaves `pendingInvites` once a host (or this home) accepted it.
 * `resumeSession` finishes what a killed process left: a session never invited, an invite
 * recorded but never sent (sent again: hosts acknowledge a repeated arrival without running
 * it twice), a lost invite whose re-invitation never happened. It runs at start for all of
 * it, and while running for work older than a lease (agent-home/invitation-watch.ts), so a
 * surviving process finishes the work of one that died. Every claim is compare-and-set,
 * so several processes doing it at once invite nobody twice. Counting is idempotent
 * (`returned`, `arrived`): an invite whose home-coming runs twice, or that comes home after
 * being declared lost, is counted once.
 */
import { createInviteAgent, INVITE_KIND, type InvitePayload } from '../agents/invite.js';
import type { ArrivedAgent, KindBehaviour } from '../agents/runtime/host.js';
import type { Envelope } from '../agents/runtime/envelope.js';
import type { LostAgent, TrackedAgent } from '../agents/runtime/tracker.js';
import { retry } from '../agents/transport/retry.js';
import { crashPoint } from '../agents/crash-point.js';
import { parleyError } from '../protocol/errors.js';
import type { HomeContext } from './context.js';
import type { SessionRecord } from './state.js';

/** Slack for the trip home on top of every hop's timeout. */
const RETURN_SLACK_MS = 5000;

function payloadOf(s: SessionRecord): InvitePayload {
  return { sn: s.sn, request: s.request, deadline: s.deadline, voucher: s.voucher as InvitePayload['voucher'], sgReq: s.sgReq as InvitePayload['sgReq'] };
}

const isOpen = (s: SessionRecord | undefined, now = Date.now()): s is SessionRecord => !!s && Date.parse(s.deadline) > now;

function newInvite(ctx: HomeContext, s: SessionRecord, itinerary: string[]): Envelope {
  return createInviteAgent(ctx.self, payloadOf(s), { itinerary, hopTimeoutMs: ctx.settings.hopTimeoutMs, expires: new Date(s.deadline) });
}

/** The session with `env` recorded as an invite out to `itinerary`, not yet sent. */
function withInvite(s: SessionRecord, env: Envelope, itinerary: string[]): SessionRecord {
  return {
    ...s,
    invites: [...s.invites, env.id],
    invited: [...new Set([...s.invited, ...itinerary])],
    invitesOut: s.invitesOut + 1,
    pendingInvites: [...(s.pendingInvites ?? []), env],
  };
}

function withoutPending(s: SessionRecord, id: string): SessionRecord {
  return { ...s, pendingInvites: (s.pendingInvites ?? []).filter((e) => e.id !== id) };
}

export async function auditSessionOpened(ctx: HomeContext, s: SessionRecord): Promise<void> {
  const r = s.request;
  await ctx.audit.append('session-opened', s.sn, { buyer: s.buyer, item: r.item, category: r.category, quantity: r.quantity, currency: r.currency, deadline: s.deadline, signBy: s.signBy }, s.sn);
}

/**
 * The first invitation of a session: an Invite Agent to every merchant selling the
 * requested category. The claim is compare-and-set, so however many processes (or a
 * resumed start) try, one invitation is made.
 */
export async function inviteMerchants(ctx: HomeContext, sn: string): Promise<void> {
  const session = await ctx.state.session(sn);
  if (!isOpen(session) || session.invites.length || session.nobodyToInvite) return;
  crashPoint('home:invite:before-record');
  const itinerary = (await ctx.state.merchants()).filter((m) => m.categories.includes(session.request.category)).map((m) => m.id).slice(0, ctx.settings.maxInvited);
  const unclaimed = (x: SessionRecord) => x.invites.length === 0 && !x.nobodyToInvite;
  if (itinerary.length === 0) {
    if (await ctx.state.updateSession(sn, (x) => (unclaimed(x) ? { ...x, nobodyToInvite: true } : undefined))) {
      await ctx.audit.append('nobody-to-invite', sn, { category: session.request.category }, sn);
      ctx.log(`session ${sn}: no merchant sells ${session.request.category}`);
    }
    return;
  }
  const env = newInvite(ctx, session, itinerary);
  if (!(await ctx.state.updateSession(sn, (x) => (unclaimed(x) ? withInvite(x, env, itinerary) : undefined)))) return;
  await sendInvite(ctx, sn, env);
}

/** Tracks (once) and sends an Invite Agent recorded in its session. */
async function sendInvite(ctx: HomeContext, sn: string, env: Envelope): Promise<void> {
  const hosts = env.header.body.itinerary.map((h) => h.host);
  await ctx.audit.append('invite-sent', env.id, { agent: env.id, hosts }, sn);
  // create-if-absent: an invite sent again keeps the progress already reported
  await retry(() => ctx.tracker.track(env, hosts.length * ctx.settings.hopTimeoutMs * 2 + RETURN_SLACK_MS));
  ctx.log(`session ${sn}: Invite Agent ${env.id} to ${hosts.join(', ')}`);
  crashPoint('home:invite:before-dispatch');
  await retry(() => ctx.host.dispatch(env));
  await ctx.state.updateSession(sn, (x) => ((x.pendingInvites ?? []).some((e) => e.id === env.id) ? withoutPending(x, env.id) : undefined));
}

/** The Invite Agent's behaviour on the Agent Home: coming home. */
export function inviteBehaviour(ctx: HomeContext): KindBehaviour {
  return {
    issuerRoles: ['agent-home'],
    check: (a) => {
      if (a.issuer.id !== ctx.self.id) throw parleyError('ERR_FORBIDDEN', `an Invite Agent of ${a.issuer.id}, not of this Agent Home`);
    },
    home: async (a: ArrivedAgent) => {
      const sn = a.header.sn!;
      const id = a.envelope.id;
      await retry(() => ctx.tracker.markHome(id, a.visits));
      const interested = a.visits.filter((v) => v.event === 'visited' && v.note === 'interested').map((v) => v.host);
      let ours = false;
      await ctx.state.updateSession(sn, (s) => {
        if (!s.invites.includes(id)) return undefined;
        ours = true;
        const arrived = s.arrived ?? [];
        const returned = s.returned ?? [];
        const pending = (s.pendingInvites ?? []).some((e) => e.id === id);
        if (arrived.includes(id) && returned.includes(id) && !pending) return undefined;
        return {
          ...withoutPending(s, id),
          ...(arrived.includes(id) ? {} : { arrived: [...arrived, id], visits: [...s.visits, ...a.visits], interested: [...new Set([...s.interested, ...interested])] }),
          ...(returned.includes(id) ? {} : { returned: [...returned, id], invitesOut: Math.max(0, s.invitesOut - 1) }),
        };
      });
      if (!ours) return;
      const visited = a.visits.filter((v) => v.event === 'visited').map((v) => v.host);
      const skipped = a.visits.filter((v) => v.event === 'skipped').map((v) => v.target);
      await ctx.audit.append('invite-home', id, { agent: id, visited, skipped, interested }, sn);
      ctx.log(`session ${sn}: Invite Agent ${id} home after ${a.visits.length} records`);
    },
  };
}

/**
 * A lost Invite Agent: counted back, and the hosts it never reached invited again (a bounded
 * number of times) — both in one compare-and-set, so a crash cannot do one without the other.
 */
export async function onLostAgent(ctx: HomeContext, lost: LostAgent): Promise<void> {
  if (lost.agent.kind !== INVITE_KIND || !lost.agent.sn) return;
  const sn = lost.agent.sn;
  const id = lost.agent.id;
  const counted = (x: SessionRecord) => !x.invites.includes(id) || (x.returned ?? []).includes(id);
  const session = await ctx.state.session(sn);
  if (!session || counted(session)) return;
  const again = lost.unreached.length && session.invites.length <= ctx.settings.reinviteRounds && isOpen(session) ? newInvite(ctx, session, lost.unreached) : undefined;
  const s = await ctx.state.updateSession(sn, (x) => {
    if (counted(x)) return undefined;
    const y: SessionRecord = { ...withoutPending(x, id), returned: [...(x.returned ?? []), id], invitesOut: Math.max(0, x.invitesOut - 1) };
    return again ? withInvite(y, again, lost.unreached) : y;
  });
  if (!s) return;
  await ctx.audit.append('invite-lost', id, { agent: id, unreached: lost.unreached }, sn);
  ctx.log(`session ${sn}: Invite Agent ${id} lost; not reached: ${lost.unreached.join(', ') || 'none'}`);
  if (again) await sendInvite(ctx, sn, again);
}

function unreachedBy(a: TrackedAgent): string[] {
  const done = new Set([...a.visited, ...a.skipped]);
  return a.itinerary.filter((h) => !done.has(h));
}

/** True while an open session's invitation work is not finished (invites still out included). */
export function invitationWorkLeft(s: SessionRecord, now = Date.now()): boolean {
  if (!isOpen(s, now)) return false;
  if (!s.invites.length) return !s.nobodyToInvite;
  if (s.pendingInvites?.length) return true;
  const returned = new Set(s.returned ?? []);
  return s.invites.some((id) => !returned.has(id));
}

/** Invitation work of a session that nobody has done for `staleMs`. */
export interface StaleInvitationWork {
  /** never invited */
  invite: boolean;
  /** recorded, maybe never sent */
  send: Envelope[];
  /** lost, but neither counted back nor replaced */
  lost: string[];
}

/**
 * What of `s`'s invitation work has been left for longer than `staleMs` (0: all of it):
 * the session has been open that long without an invitation; an invite was recorded that
 * long ago and still waits to be sent; an invite is known lost (`known`: the tracker's
 * record) since that long after it was due home, and not counted back. Undefined when none.
 */
export function staleInvitationWork(s: SessionRecord, known: (id: string) => TrackedAgent | undefined, staleMs: number, now = Date.now()): StaleInvitationWork | undefined {
  if (!isOpen(s, now)) return undefined;
  const stale = (at: string) => Date.parse(at) + staleMs <= now;
  if (!s.invites.length) return !s.nobodyToInvite && stale(s.created) ? { invite: true, send: [], lost: [] } : undefined;
  const send = (s.pendingInvites ?? []).filter((env) => stale(env.header.body.created));
  const returned = new Set(s.returned ?? []);
  const lost = s.invites.filter((id) => {
    const t = !returned.has(id) ? known(id) : undefined;
    return t?.status === 'lost' && stale(t.returnBy);
  });
  return send.length || lost.length ? { invite: false, send, lost } : undefined;
}

/**
 * Finishes the invitation work of session `sn` left for longer than `staleMs` (0: all of
 * it, as at start) by a stopped or killed process; work younger than that is left to the
 * process doing it. Returns how many things it did.
 */
export async function resumeSession(ctx: HomeContext, sn: string, staleMs: number): Promise<number> {
  const s = await ctx.state.session(sn);
  const work = s && staleInvitationWork(s, (id) => ctx.tracker.known(id), staleMs);
  if (!s || !work) return 0;
  if (work.invite) {
    ctx.log(`session ${sn}: never invited; inviting now`);
    await auditSessionOpened(ctx, s); // the crash may have come before it was logged
    await inviteMerchants(ctx, sn);
    return 1;
  }
  for (const env of work.send) {
    ctx.log(`session ${sn}: Invite Agent ${env.id} was recorded but maybe not sent; sending it (again)`);
    await sendInvite(ctx, sn, env);
  }
  for (const id of work.lost) {
    // the record as it is now: the hosts it reached decide whom to invite again
    const t = await retry(() => ctx.tracker.get(id));
    if (t?.status === 'lost') await onLostAgent(ctx, { agent: t, unreached: unreachedBy(t) });
  }
  return work.send.length + work.lost.length;
}
