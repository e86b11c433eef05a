/**
 * `parley home console`: the arbiter's pages on the shared console server
 * (agents/console/server.ts), read from JetStream as the read-only `console` party
 * (agent-home/console-access.ts). Every answer is built field by field from the records:
 * nothing of the escrow (d2, the buyer's rules) is ever read, and no buyer utility or
 * reservation value is sent (they derive from the sealed rules; only the buyer's own report
 * shows them). Verdicts are shown as accepted / rejected / out of limits.
 */
import { KvWatchInclude, type KV } from 'nats';
import { keyFromB64u, verifyReveal } from '../crypto/hashchain.js';
import type { JsonValue } from '../crypto/canonical.js';
import type { VerdictReason } from '../protocol/rules.js';
import type { ConsoleChange, ConsoleRole } from '../agents/console/server.js';
import { showSession, summary } from './arbiter.js';
import { AuditTail } from './console-audit.js';
import type { HomeState } from './state.js';
import { CONSOLE_WATCHED } from './console-access.js';

export type Verdict = 'accepted' | 'rejected' | 'out of limits';

export function verdictOf(accept: boolean, reason: VerdictReason): Verdict {
  return accept ? 'accepted' : reason === 'limit' ? 'out of limits' : 'rejected';
}

/** The revealed prefix checked link by link against K[1]: how many rounds hold. */
export function chainCheck(k1: string, rounds: ReadonlyArray<{ bid: unknown; next: string }>): boolean[] {
  const out: boolean[] = [];
  let expected: Uint8Array;
  try {
    expected = keyFromB64u(k1);
  } catch {
    return rounds.map(() => false);
  }
  let ok = true;
  for (const r of rounds) {
    let next: Uint8Array | undefined;
    try {
      next = keyFromB64u(r.next);
    } catch {
      next = undefined;
    }
    ok = ok && !!next && verifyReveal(expected, r.bid as JsonValue, next);
    out.push(ok);
    if (next) expected = next;
  }
  return out;
}

async function sessionsView(state: HomeState) {
  const out = [];
  // each record read once (listSessions would read it, and the view again)
  for (const sn of await state.sessionNumbers()) {
    const rec = await state.session(sn);
    if (!rec) continue;
    const s = summary(rec);
    const visited = rec.visits.filter((v) => v.event === 'visited').length;
    const skipped = rec.visits.filter((v) => v.event === 'skipped').length;
    const times = [rec.created, ...rec.visits.map((v) => v.at)].sort();
    out.push({
      sn: s.sn,
      status: s.status,
      category: rec.request.category,
      item: rec.request.item,
      quantity: rec.request.quantity,
      buyer: rec.buyer,
      invited: rec.invited.length,
      visited,
      skipped,
      bidding: Object.keys(rec.negotiated).length,
      agreements: rec.agreed.length,
      exchanges: rec.exchanges.length,
      started: rec.created,
      lastActivity: times[times.length - 1],
      deadline: rec.deadline,
    });
  }
  return { sessions: out.sort((a, b) => a.started.localeCompare(b.started)) };
}

async function sessionView(state: HomeState, audit: AuditTail, sn: string) {
  const d = await showSession(state, sn);
  const rec = await state.session(sn);
  if (!d || !rec) return undefined;
  const negotiations = [];
  for (const n of d.negotiations) {
    const full = await state.negotiation(sn, n.merchant);
    const k1 = (full?.offer as { body?: { k1?: string } } | undefined)?.body?.k1 ?? '';
    const chain = chainCheck(k1, n.rounds);
    negotiations.push({
      merchant: n.merchant,
      status: n.status,
      k: n.k,
      at: n.at,
      ...(n.error ? { error: n.error } : {}),
      rounds: n.rounds.map((r, i) => ({ index: r.index, bid: r.bid, verdict: verdictOf(r.accept, r.reason), chainOk: chain[i] ?? false })),
    });
  }
  // ranked by the buyer's utility, which itself stays out of the answer
  const ranked = [...d.agreements].sort((a, b) => b.utility - a.utility || a.merchant.localeCompare(b.merchant));
  const evidence = (await audit.records()).filter((r) => 'event' in r && r.sn === sn).map((r) => r as { seq: number; at: string; event: string; details: unknown });
  return {
    session: {
      sn,
      status: d.session.status,
      buyer: rec.buyer,
      request: rec.request,
      created: rec.created,
      deadline: rec.deadline,
      signBy: rec.signBy,
      invitedHosts: rec.invited,
      interested: rec.interested,
      inviteAgents: rec.invites.length,
      invitesOut: rec.invitesOut,
      // a replacement Invite Agent means one was lost and the hosts it missed were invited again
      recoveredInvites: Math.max(0, rec.invites.length - 1),
    },
    visits: rec.visits.map((v) => ({ agent: v.agent, hop: v.hop, host: v.host, at: v.at, event: v.event, target: v.target, note: v.note, signatureChecked: true })),
    negotiations,
    agreements: ranked.map((a, i) => ({ rank: i + 1, merchant: a.merchant, index: a.index, k: a.k, bid: a.bid, at: a.at, chainOk: chainCheck(a.proof.offer.body.k1, a.proof.reveals).every(Boolean) })),
    exchanges: d.exchanges.map((x) => ({
      contractId: x.contractId,
      merchant: x.merchant,
      status: x.status,
      at: x.at,
      delivered: x.delivered ?? false,
      evidence: evidence.filter((e) => JSON.stringify(e.details).includes(x.contractId)),
    })),
    events: evidence.map((e) => ({ seq: e.seq, at: e.at, event: e.event })),
  };
}

async function auditView(audit: AuditTail) {
  const verified = await audit.verified();
  return { verified: verified ?? null, records: (await audit.records()).slice(-500) };
}

async function directoryView(state: HomeState) {
  return { merchants: (await state.merchants()).map((m) => ({ id: m.id, name: m.name, categories: m.categories, registeredAt: m.registeredAt })) };
}

/** Live changes: a headers-only watch of each bucket the pages show, from now on. */
async function watchBuckets(state: HomeState, send: (c: ConsoleChange) => void): Promise<() => Promise<void>> {
  const buckets: Record<(typeof CONSOLE_WATCHED)[number], KV> = {
    parley_sessions: state.sessions,
    parley_negotiations: state.negotiations,
    parley_exchanges: state.exchanges,
    parley_directory: state.directory,
  };
  const watches: Array<{ stop(): void }> = [];
  for (const [topic, kv] of Object.entries(buckets)) {
    const w = await kv.watch({ headers_only: true, include: KvWatchInclude.UpdatesOnly });
    watches.push(w);
    void (async () => {
      for await (const e of w) send({ topic, key: e.key });
    })().catch(() => undefined);
  }
  return async () => {
    for (const w of watches) w.stop();
  };
}

export function arbiterConsole(state: HomeState, opts: { homeId: string; publicKey?: Uint8Array }): ConsoleRole {
  const audit = new AuditTail(state, opts.publicKey);
  return {
    title: `Parley arbiter console — ${opts.homeId}`,
    page: 'arbiter.js',
    api: {
      sessions: () => sessionsView(state),
      session: async (q) => {
        const sn = q.get('sn') ?? '';
        return /^[A-Za-z0-9_-]{8,128}$/.test(sn) ? sessionView(state, audit, sn) : undefined;
      },
      audit: () => auditView(audit),
      directory: () => directoryView(state),
    },
    watch: (send) => watchBuckets(state, send),
  };
}
