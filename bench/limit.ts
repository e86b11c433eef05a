/**
 * Limit benchmark: the least CPU time one complete session needs, and so the most sessions
 * per second a perfect implementation could reach on this machine.
 *
 * 1. Count (bench/limit-session.ts, bench/limit-count.ts): one session of the `load`
 *    benchmark's shape — 10 merchants × 20 bids, request → results → one signed contract —
 *    runs in an in-process world with counters around node:crypto and a wiretap on the
 *    server: Ed25519 signs and verifies, RSA exponentiations by kind, SHA-256, NATS
 *    requests, publishes, JetStream writes and API requests. The sealed box's X25519 (now
 *    OpenSSL's, through KeyObjects the counters do not see) and the at-rest encryption
 *    (@noble) are counted by reading the code, one each per session (the buyer seals d2 and
 *    the rules, the Agent Home opens them, stores the escrow encrypted, and decrypts it once
 *    for the session's rules); both are priced at OpenSSL's speed (see rowsFor).
 * 2. Price (bench/limit-cost.ts): each primitive measured alone in this run.
 * 3. Add up. The unavoidable work of a session is its cryptography and its messages: every
 *    Parley request (agent hops included) is one round trip, every event one publish, every
 *    durable record one JetStream write. JetStream reads are shown but left out: state can
 *    be kept in memory. The buyer's RSA session key generation is left out too, since the
 *    buyer generates keys ahead of time (`NewRequest.sessionKey`, as the load benchmark
 *    does); the figure with it is given as well. "As implemented" prices every counted call;
 *    "distinct" prices an operation one party repeats on the same input (the same signature
 *    verified again, the same bytes hashed again) once, as a perfect implementation would
 *    do it. Per party: the parties share this process here, but each is its own process
 *    and trust domain in a deployment, so what the Agent Home verified the buyer must
 *    verify again (limit-session.ts tells the parties apart, and keeps the
 *    verified-signature cache from answering one party for another).
 *
 *      CPU-seconds per session = Σ (count × CPU cost of one)
 *      sessions/s              = cores / CPU-seconds per session
 *
 *    since a machine with c cores has c CPU-seconds to give every second, and the work of
 *    sessions run side by side spreads over all of them at best.
 */
import { cpus } from 'node:os';
import { countSession, type SessionCounts, type SessionShape } from './limit-session.js';
import { cryptoCosts, natsCosts, type CryptoCosts, type NatsCosts, type UnitCost } from './limit-cost.js';
import { table, writeResults } from './lib.js';
import { BIDS, MERCHANTS } from './session.js';

/** The session the `load` benchmark runs. */
export const LOAD_SHAPE: SessionShape = { merchants: MERCHANTS, bids: BIDS };

export interface LimitRow {
  work: string;
  count: number;
  /** count with repeats on the same input taken once */
  distinct: number;
  /** CPU µs of one (mean over the counted calls where it depends on the message size) */
  unitUs: number;
  totalUs: number;
  distinctTotalUs: number;
  /** part of the limit (unavoidable), or shown for scale only */
  inLimit: boolean;
}

export interface LimitResult {
  shape: SessionShape;
  cores: number;
  /** the limit: sessions per second with each distinct operation done once, no key generation */
  sessionsPerSecond: number;
  cpuMsPerSession: number;
  /** pricing every counted call, as the code does them now */
  asImplemented: { sessionsPerSecond: number; cpuMsPerSession: number };
  /** with the buyer's session key generated within the session */
  withKeygen: { sessionsPerSecond: number; cpuMsPerSession: number };
  /**
   * With Ed25519 priced as the implementation runs it (libsodium) instead of in OpenSSL:
   * the limit of an implementation that uses the faster library too, shown beside the
   * limit as defined
   */
  withLibsodiumEd25519: { sessionsPerSecond: number; cpuMsPerSession: number };
  /** what the implementation really spends per session (this process + nats-server) */
  actualCpuMsPerSession: number;
  rows: LimitRow[];
  /** the session's messages by kind and subject (ids as <id>, session numbers as <sn>) */
  messages: Array<{ kind: string; subject: string; count: number; bytes: number }>;
  counts: { reveals: number; agreements: number; wallMs: number; cryptoByParty: Record<string, number> };
  costs: { nats: NatsCosts; keygenUs: number };
  /**
   * The limit's CPU ms per session by role, the roles `load` measures as processes: each
   * party's own distinct crypto, and its part of the NATS operations it takes part in (see
   * pricedByRole). Sums to cpuMsPerSession, less `unattributed`.
   */
  byRole: RolePrice;
}

export type Role = 'agent-home' | 'stores' | 'buyers' | 'nats-server';
export type RolePrice = Record<Role | 'unattributed', number>;

/** the role of a party of the counted session (limit-session.ts names them) */
export function roleOf(party: string): Role | 'unattributed' {
  if (party === 'agent-home') return 'agent-home';
  if (party === 'buyer') return 'buyers';
  if (/^m\d+$/.test(party)) return 'stores';
  return 'unattributed';
}

/**
 * The limit split by role. Crypto: each party's distinct operations at the prices of the
 * limit (Ed25519 in OpenSSL), plus the sealed box and at-rest rows by reading the code (the
 * buyer seals: two X25519 and the symmetric part; the Agent Home opens: one X25519 and the
 * symmetric part, and encrypts and decrypts the escrow at rest). NATS: the server's part of
 * each operation to nats-server; the clients' part of a request half to the party that asked
 * and half to the one that answered, of a publish or a JetStream write to its sender, of a
 * delivery to the watch's party (known by its consumer ack). What the tap cannot attribute
 * (a message from no known party) is `unattributed`.
 */
export function pricedByRole(c: SessionCounts, crypto: CryptoCosts, nats: NatsCosts): RolePrice {
  const us: RolePrice = { 'agent-home': 0, stores: 0, buyers: 0, 'nats-server': 0, unattributed: 0 };
  for (const [party, ops] of c.cryptoPerParty) {
    for (const [op, n] of ops) {
      const cost = crypto.ops.get(op);
      if (cost) us[roleOf(party)] += n.distinct * cost.baseUs + n.distinctBytes * cost.perByteUs;
    }
  }
  us.buyers += 2 * crypto.x25519OpensslUs + crypto.sealSymmetricUs;
  us['agent-home'] += crypto.x25519OpensslUs + crypto.sealSymmetricUs + crypto.atRestEncryptUs + crypto.atRestDecryptUs;
  const client = (total: number, server: number) => Math.max(0, total - server);
  for (const [party, p] of c.wire.byParty) {
    const r = roleOf(party);
    us[r] += ((p.requests + p.answered) / 2) * client(nats.requestUs, nats.serverUs.request);
    us[r] += p.publishes * client(nats.publishUs, nats.serverUs.publish);
    us[r] += p.jsWrites * client(nats.jsWriteUs, nats.serverUs.jsWrite);
    us[r] += p.deliveries * client(nats.deliveryUs, nats.serverUs.delivery);
  }
  const sum = (m: Map<string, { count: number }>) => [...m.values()].reduce((t, v) => t + v.count, 0);
  us['nats-server'] += sum(c.wire.requests) * nats.serverUs.request + sum(c.wire.publishes) * nats.serverUs.publish + sum(c.wire.jsWrites) * nats.serverUs.jsWrite + sum(c.wire.deliveries) * nats.serverUs.delivery;
  const ms = {} as RolePrice;
  for (const k of Object.keys(us) as Array<keyof RolePrice>) ms[k] = us[k] / 1000;
  return ms;
}

function rowsFor(c: SessionCounts, crypto: CryptoCosts, nats: NatsCosts): LimitRow[] {
  const rows: LimitRow[] = [];
  for (const [op, n] of c.crypto) {
    const cost = crypto.ops.get(op);
    if (!cost) {
      if (op === 'rsa key generation') continue; // keygen is priced separately
      throw new Error(`no cost measured for ${op} (${n.count} calls)`);
    }
    const totalUs = n.count * cost.baseUs + n.bytes * cost.perByteUs;
    rows.push({ work: op, count: n.count, distinct: n.distinct, unitUs: totalUs / n.count, totalUs, distinctTotalUs: n.distinct * cost.baseUs + n.distinctBytes * cost.perByteUs, inLimit: true });
  }
  /** `count` operations of `unitUs` each, none a repeat */
  const flat = (work: string, count: number, unitUs: number, inLimit = true): LimitRow => ({ work, count, distinct: count, unitUs, totalUs: count * unitUs, distinctTotalUs: count * unitUs, inLimit });
  // sealing takes two X25519 multiplications (ephemeral key, shared secret); opening takes the
  // shared secret (the Agent Home's own public key is derived once per process). Both the
  // implementation (crypto/seal.ts) and the limit run them in OpenSSL.
  rows.push(flat('x25519 (sealed box, OpenSSL)', 3, crypto.x25519OpensslUs));
  rows.push(flat('sealed box HKDF + XChaCha20-Poly1305 (seal, open)', 2, crypto.sealSymmetricUs));
  rows.push(flat('at-rest encrypt escrow (Agent Home)', 1, crypto.atRestEncryptUs), flat('at-rest decrypt escrow (Agent Home)', 1, crypto.atRestDecryptUs));
  const sum = (m: Map<string, { count: number }>) => [...m.values()].reduce((s, v) => s + v.count, 0);
  rows.push(flat('NATS request/reply (Parley requests, agent hops)', sum(c.wire.requests), nats.requestUs));
  rows.push(flat('NATS publish (events, progress notes)', sum(c.wire.publishes), nats.publishUs));
  rows.push(flat('JetStream write (publish + PubAck)', sum(c.wire.jsWrites), nats.jsWriteUs));
  rows.push(flat('JetStream delivery to a watch (priced as a publish of its size)', sum(c.wire.deliveries), nats.deliveryUs));
  const reads = [...c.wire.jsApi.values()].reduce((s, v) => s + v, 0);
  rows.push(flat('JetStream API request (reads; not in the limit)', reads, nats.jsReadUs, false));
  return rows;
}

/** Runs the counted session and the cost measurements; returns the limit for `shape`. */
export async function measureLimit(shape: SessionShape = LOAD_SHAPE): Promise<LimitResult> {
  return priceLimit(await countSession(shape));
}

/**
 * The limit for a session counted before, with every primitive priced now: the counts do
 * not depend on the machine's speed, the prices do (see bench/load.ts, which prices the same
 * counts before and after the phase it compares with the limit).
 */
export async function priceLimit(counts: SessionCounts): Promise<LimitResult> {
  const shape = counts.shape;
  const crypto = await cryptoCosts();
  const avg = (m: Map<string, { count: number; bytes: number }>) => {
    const v = [...m.values()];
    const n = v.reduce((s, x) => s + x.count, 0);
    return n ? v.reduce((s, x) => s + x.bytes, 0) / n : 0;
  };
  const w = counts.wire;
  const nats = await natsCosts({
    request: avg(w.requests),
    reply: w.replies.count ? w.replies.bytes / w.replies.count : 0,
    publish: avg(w.publishes),
    delivery: avg(w.deliveries),
    jsWrite: avg(w.jsWrites),
    jsRead: w.jsApiReplies.count ? w.jsApiReplies.bytes / w.jsApiReplies.count : 0,
  });
  const rows = rowsFor(counts, crypto, nats);
  const cores = cpus().length;
  const limitRows = rows.filter((r) => r.inLimit);
  const distinctMs = limitRows.reduce((s, r) => s + r.distinctTotalUs, 0) / 1000;
  const allMs = limitRows.reduce((s, r) => s + r.totalUs, 0) / 1000;
  const keygenMs = crypto.keygenUs / 1000;
  // the Ed25519 rows priced again at libsodium's cost, every other row as it is
  const sodiumCost = new Map<string, UnitCost>([
    ['ed25519 sign', crypto.ed25519Libsodium.sign],
    ['ed25519 verify', crypto.ed25519Libsodium.verify],
  ]);
  let sodiumMs = distinctMs;
  for (const [op, n] of counts.crypto) {
    const alt = sodiumCost.get(op);
    const row = limitRows.find((r) => r.work === op);
    if (alt && row) sodiumMs += (n.distinct * alt.baseUs + n.distinctBytes * alt.perByteUs - row.distinctTotalUs) / 1000;
  }
  // sessions/s = cores / CPU-seconds per session
  const rate = (ms: number) => cores / (ms / 1000);
  return {
    shape,
    cores,
    sessionsPerSecond: rate(distinctMs),
    cpuMsPerSession: distinctMs,
    asImplemented: { sessionsPerSecond: rate(allMs), cpuMsPerSession: allMs },
    withKeygen: { sessionsPerSecond: rate(distinctMs + keygenMs), cpuMsPerSession: distinctMs + keygenMs },
    withLibsodiumEd25519: { sessionsPerSecond: rate(sodiumMs), cpuMsPerSession: sodiumMs },
    actualCpuMsPerSession: counts.actualCpuMs,
    rows,
    messages: messageList(w),
    counts: { reveals: counts.reveals, agreements: counts.agreements, wallMs: counts.wallMs, cryptoByParty: Object.fromEntries(counts.cryptoByParty) },
    costs: { nats, keygenUs: crypto.keygenUs },
    byRole: pricedByRole(counts, crypto, nats),
  };
}

export function messageList(c: SessionCounts['wire']): LimitResult['messages'] {
  const out: LimitResult['messages'] = [];
  const add = (kind: string, m: Map<string, { count: number; bytes: number }>) => {
    for (const [subject, v] of m) out.push({ kind, subject, ...v });
  };
  add('request', c.requests);
  add('publish', c.publishes);
  add('js write', c.jsWrites);
  add('js delivery', c.deliveries);
  for (const [subject, count] of c.jsApi) out.push({ kind: 'js api', subject, count, bytes: 0 });
  out.push({ kind: 'replies', subject: 'to requests', ...c.replies }, { kind: 'replies', subject: 'to js api', ...c.jsApiReplies });
  for (const [subject, count] of c.other) out.push({ kind: 'other', subject, count, bytes: 0 });
  return out;
}

export async function run(): Promise<void> {
  const r = await measureLimit();
  const f = (us: number) => (us >= 100 ? us.toFixed(0) : us.toFixed(1));
  console.log(`limit benchmark: one session of ${r.shape.merchants} merchants × ${r.shape.bids} bids, request → results → one signed contract`);
  console.log(`(${r.counts.reveals} bids revealed, ${r.counts.agreements} agreements; counted by instrumenting node:crypto and a wiretap on '>'; seal/at-rest counted from the code)`);
  console.log(table([['messages of the session', 'count', 'bytes'], ...r.messages.map((m) => [`${m.kind}: ${m.subject}`, String(m.count), m.bytes ? String(m.bytes) : '-'])]));
  console.log(
    table([
      ['work', 'count', 'distinct', 'µs each', 'µs total', 'µs distinct'],
      ...r.rows.map((x) => [x.work, String(x.count), String(x.distinct), f(x.unitUs), f(x.totalUs), x.inLimit ? f(x.distinctTotalUs) : '(excluded)']),
    ]),
  );
  console.log(`crypto calls by party (hashes apart; an operation is distinct per party): ${Object.entries(r.counts.cryptoByParty).sort().map(([p, n]) => `${p} ${n}`).join(', ')}`);
  console.log(`limit by role, CPU ms per session: ${Object.entries(r.byRole).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
  console.log(`NATS costs are CPU (clients + nats-server) per operation on a fresh server; one request/reply takes ${f(r.costs.nats.requestLatencyUs)} µs wall-clock`);
  console.log(`session key generation (buyer, ahead of time, not in the limit): ${f(r.costs.keygenUs)} µs`);
  console.log('sessions/s = cores / CPU-seconds per session');
  console.log(
    table([
      ['', 'CPU ms/session', 'sessions/s'],
      [`limit (distinct ops, ${r.cores} cores)`, r.cpuMsPerSession.toFixed(2), r.sessionsPerSecond.toFixed(1)],
      ['every counted op priced', r.asImplemented.cpuMsPerSession.toFixed(2), r.asImplemented.sessionsPerSecond.toFixed(1)],
      ['limit + session key generation', r.withKeygen.cpuMsPerSession.toFixed(2), r.withKeygen.sessionsPerSecond.toFixed(1)],
      ['limit with Ed25519 at libsodium\'s cost (as implemented)', r.withLibsodiumEd25519.cpuMsPerSession.toFixed(2), r.withLibsodiumEd25519.sessionsPerSecond.toFixed(1)],
      ['actual implementation (one session, in-process)', r.actualCpuMsPerSession.toFixed(1), ((r.cores * 1000) / r.actualCpuMsPerSession).toFixed(1)],
    ]),
  );
  const file = writeResults('limit', r, []);
  console.log(`results: ${file}`);
}
