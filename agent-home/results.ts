/**
 * What the buyer of a session may read: its progress and its agreements, ranked by the
 * buyer's utility. Only the buyer whose certificate opened the session gets an answer.
 */
import { parleyError } from '../protocol/errors.js';
import type { OpenedRequest } from '../protocol/signed-request.js';
import type { Agreement, ResultsReply, ResultsRequest } from '../protocol/directory.js';
import type { Revisioned } from '../agents/storage/kv-wait.js';
import type { HomeContext } from './context.js';
import type { SessionRecord } from './state.js';

/** complete: every Invite Agent is back and every merchant that was interested has negotiated. */
export function sessionStatus(s: SessionRecord, now = Date.now()): ResultsReply['status'] {
  if (Date.parse(s.deadline) <= now) return 'closed';
  if (s.nobodyToInvite) return 'complete';
  const invitationsBack = s.invites.length > 0 && s.invitesOut === 0;
  return invitationsBack && s.interested.every((m) => m in s.negotiated) ? 'complete' : 'open';
}

export async function sessionResults(ctx: HomeContext, s: SessionRecord, revision: number): Promise<ResultsReply> {
  const agreements: Agreement[] = [];
  for (const m of s.agreed) {
    const a = await ctx.state.agreement(s.sn, m);
    if (a) agreements.push(a);
  }
  agreements.sort((a, b) => b.utility - a.utility || a.bid.price - b.bid.price || a.merchant.localeCompare(b.merchant));
  const negotiated = Object.values(s.negotiated);
  return {
    sn: s.sn,
    request: s.request,
    deadline: s.deadline,
    status: sessionStatus(s),
    revision,
    progress: {
      invited: s.invited.length,
      visited: new Set(s.visits.filter((v) => v.event === 'visited').map((v) => v.host)).size,
      // a merchant skipped by the visit log that negotiated later counts once: as negotiated
      skipped: new Set(s.visits.filter((v) => v.event === 'skipped' && !(v.target !== undefined && v.target in s.negotiated)).map((v) => v.target)).size,
      salesAgents: negotiated.length,
      offersEvaluated: negotiated.reduce((n, x) => n + x.rounds, 0),
      agreements: agreements.length,
    },
    agreements,
  };
}

export async function handleResults(ctx: HomeContext, req: OpenedRequest<ResultsRequest>): Promise<ResultsReply> {
  const { sn, wait } = req.body;
  const mine = (r: Revisioned<SessionRecord> | undefined): r is Revisioned<SessionRecord> => !!r && r.value.buyer === req.signer.id;
  let rec = await ctx.state.sessionAt(sn);
  // the same answer for "no such session" and "not yours": nothing leaks about other buyers
  if (!mine(rec)) throw parleyError('ERR_SESSION_UNKNOWN', `no session ${sn} for ${req.signer.id}`);
  if (wait) {
    // a long poll: answered when there is news, when the deadline closes the session, or after wait.ms
    const news = (r: Revisioned<SessionRecord>) => sessionStatus(r.value) !== 'open' || (wait.after !== undefined && r.revision > wait.after);
    const ms = Math.min(wait.ms, Date.parse(rec.value.deadline) - Date.now() + 5);
    if (!news(rec) && ms > 0) rec = (await ctx.sessionWaits.until(sn, news, ms, () => ctx.state.sessionAt(sn))) ?? rec;
  }
  return sessionResults(ctx, rec.value, rec.revision);
}
