/**
 * The arbiter's view of the Agent Home's records (read straight from JetStream, so it works
 * whether or not the daemon runs): sessions, one session in full (visit log, every Sales
 * Agent's revealed bids and verdicts, agreements, exchanges and disputes), and disputes.
 */
import type { HomeState, ExchangeRecord, NegotiationRecord, SessionRecord } from './state.js';
import { sessionStatus } from './results.js';
import type { Agreement } from '../protocol/directory.js';

export interface SessionSummary {
  sn: string;
  buyer: string;
  item: string;
  quantity: number;
  status: string;
  created: string;
  deadline: string;
  invited: number;
  salesAgents: number;
  agreements: number;
  exchanges: number;
}

export function summary(s: SessionRecord): SessionSummary {
  return {
    sn: s.sn,
    buyer: s.buyer,
    item: s.request.item,
    quantity: s.request.quantity,
    status: sessionStatus(s),
    created: s.created,
    deadline: s.deadline,
    invited: s.invited.length,
    salesAgents: Object.keys(s.negotiated).length,
    agreements: s.agreed.length,
    exchanges: s.exchanges.length,
  };
}

/** Merchants skipped by the visit log that negotiated all the same (see SessionDetail.lateAnswers). */
export function lateAnswers(s: SessionRecord): string[] {
  const skipped = new Set(s.visits.filter((v) => v.event === 'skipped').map((v) => v.target));
  return [...skipped].filter((m) => m !== undefined && m in s.negotiated).sort() as string[];
}

export async function listSessions(state: HomeState): Promise<SessionSummary[]> {
  const out: SessionSummary[] = [];
  for (const sn of await state.sessionNumbers()) {
    const s = await state.session(sn);
    if (s) out.push(summary(s));
  }
  return out.sort((a, b) => a.created.localeCompare(b.created));
}

export interface SessionDetail {
  session: SessionSummary & { request: SessionRecord['request']; invitedHosts: string[]; interested: string[] };
  visits: SessionRecord['visits'];
  negotiations: Array<Pick<NegotiationRecord, 'merchant' | 'status' | 'k' | 'rounds' | 'at' | 'error'>>;
  agreements: Agreement[];
  exchanges: ExchangeRecord[];
  /**
   * Merchants the visit log records as skipped (their host did not acknowledge the Invite
   * Agent in time) whose Sales Agent came later and negotiated: one truth per merchant is
   * its negotiation, the skip only says it answered late.
   */
  lateAnswers: string[];
}

export async function showSession(state: HomeState, sn: string): Promise<SessionDetail | undefined> {
  const s = await state.session(sn);
  if (!s) return undefined;
  const negotiations = [];
  for (const m of Object.keys(s.negotiated).sort()) {
    const n = await state.negotiation(sn, m);
    if (n) negotiations.push({ merchant: n.merchant, status: n.status, k: n.k, rounds: n.rounds, at: n.at, ...(n.error ? { error: n.error } : {}) });
  }
  const agreements: Agreement[] = [];
  for (const m of s.agreed) {
    const a = await state.agreement(sn, m);
    if (a) agreements.push(a);
  }
  const exchanges: ExchangeRecord[] = [];
  for (const id of s.exchanges) {
    const x = await state.exchange(id);
    if (x) exchanges.push(x);
  }
  return {
    session: { ...summary(s), request: s.request, invitedHosts: s.invited, interested: s.interested },
    visits: s.visits,
    negotiations,
    agreements,
    exchanges,
    lateAnswers: lateAnswers(s),
  };
}

/** Every exchange the arbiter settled: resolutions and aborts. */
export async function listDisputes(state: HomeState): Promise<ExchangeRecord[]> {
  const out: ExchangeRecord[] = [];
  for (const id of await state.exchangeIds()) {
    const x = await state.exchange(id);
    if (x) out.push(x);
  }
  return out.sort((a, b) => a.at.localeCompare(b.at));
}

export function renderSession(d: SessionDetail): string {
  const s = d.session;
  const lines = [
    `session ${s.sn}  ${s.status}`,
    `  buyer ${s.buyer} wants ${s.quantity} × ${s.item}; deadline ${s.deadline}`,
    `  invited: ${s.invitedHosts.join(', ') || 'nobody'}; interested: ${s.interested.join(', ') || 'none reported'}`,
    '  visit log:',
    ...d.visits.map((v) => {
      const late = v.event === 'skipped' && v.target !== undefined && d.lateAnswers.includes(v.target);
      const what = v.event === 'visited' ? `${v.host} visited (${v.note})` : `${v.host} skipped ${v.target} (${v.note})${late ? `; ${v.target} answered late and negotiated (see sales agents)` : ''}`;
      return `    hop ${v.hop}: ${what} at ${v.at}`;
    }),
    '  sales agents:',
  ];
  for (const n of d.negotiations) {
    lines.push(`    ${n.merchant}: ${n.status}, ${n.rounds.length} of ${n.k} bids revealed${n.error ? ` (${n.error})` : ''}`);
    for (const r of n.rounds) lines.push(`      bid ${r.index}: ${r.bid.price} ${r.bid.currency}, ${r.bid.deliveryDays} d, ${r.bid.warrantyMonths} mo → ${r.accept ? 'accept' : 'reject'} (utility ${r.utility.toFixed(3)})`);
  }
  lines.push('  agreements:', ...d.agreements.map((a) => `    ${a.merchant}: bid ${a.index}/${a.k} at ${a.bid.price} ${a.bid.currency}, utility ${a.utility.toFixed(3)}`));
  lines.push('  exchanges and disputes:', ...d.exchanges.map((x) => `    ${x.contractId} with ${x.merchant}: ${x.status} at ${x.at}`));
  return lines.join('\n');
}
