/**
 * Counting the primitive work of one session, for bench/limit.ts, by instrumenting the real
 * code path rather than reading it:
 *
 * - crypto: the functions every Parley signature, RSA exponentiation and hash ends in are
 *   wrapped with counters: libsodium's Ed25519 sign and verify (crypto/ed25519.ts calls them
 *   through the module object), and node:crypto's `sign`, `verify`, `privateDecrypt`,
 *   `publicEncrypt`, `hash`, `createHash` and `generateKeyPair`, where
 *   `syncBuiltinESMExports` makes the modules that imported them by name
 *   (crypto/rsa/openssl.ts, …) call the wrappers. Each call is classified by its key
 *   (Ed25519; RSA by exponent: e = 65537, the 64-bit e1, or the secret d2 that is as long
 *   as n) and identified by its input, so
 *   that the same operation done twice on the same data is told apart from distinct work.
 * - NATS: a connection subscribed to `>` sees every message of every party (not $SYS).
 *   A message whose reply inbox receives a JetStream PubAck was a JetStream write; other
 *   messages with a reply subject are requests (round trips); `$JS.API.*` requests are
 *   the JetStream API (reads, mostly); a message whose reply is `$JS.ACK.…` is a consumer
 *   delivering a stored message to a watch (it carries the stored message's own subject,
 *   `$KV.<bucket>.<key>` for a KV record, so it is told apart by its reply, not its
 *   subject); the rest are plain publishes and inbox replies.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { KeyObject } from 'node:crypto';
import type { NatsConnection, Subscription } from 'nats';

const require = createRequire(import.meta.url);
const nodeCrypto = require('node:crypto') as typeof import('node:crypto');
const sodium = require('sodium-native') as typeof import('sodium-native').default;
const realHash = nodeCrypto.hash;

export interface OpCount {
  /** calls */
  count: number;
  /** calls on an input not seen before for this op */
  distinct: number;
  /** bytes of message (signatures, hashes) summed over the calls */
  bytes: number;
  /** the same, over the distinct calls only */
  distinctBytes: number;
}

export type CryptoOp =
  | 'ed25519 sign'
  | 'ed25519 verify'
  | 'rsa m^d1 (partial sign, CRT)'
  | 'rsa m^d (full sign, CRT)'
  | 'rsa s^e (verify)'
  | 'rsa SG1^e1 (partial verify)'
  | 'rsa m^d2 (completion)'
  | 'rsa sign/verify via node sign()'
  | 'rsa key generation'
  | 'sha-256'
  | 'other';

type Bytes = NodeJS.ArrayBufferView | string;

function keyObjectOf(key: unknown): KeyObject | undefined {
  if (key instanceof KeyObject) return key;
  if (typeof key === 'object' && key !== null && 'key' in key && key.key instanceof KeyObject) return key.key;
  return undefined;
}

function byteLen(data: Bytes): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}

function fingerprint(...parts: Bytes[]): string {
  return parts.map((p) => realHash('sha256', typeof p === 'string' ? p : new Uint8Array(p.buffer, p.byteOffset, p.byteLength), 'base64')).join(':');
}

function rsaExponentOp(key: KeyObject | undefined, privatePath: boolean): CryptoOp {
  const exp = key?.asymmetricKeyDetails?.publicExponent;
  if (key?.asymmetricKeyType !== 'rsa' || exp === undefined) return 'other';
  if (privatePath) return exp === 65537n ? 'rsa m^d (full sign, CRT)' : 'rsa m^d1 (partial sign, CRT)';
  if (exp === 65537n) return 'rsa s^e (verify)';
  return exp < 1n << 64n ? 'rsa SG1^e1 (partial verify)' : 'rsa m^d2 (completion)';
}

/**
 * Counts node:crypto calls until `stop()`, which restores the originals and returns the
 * counts. `party` names who makes the current call: an operation is distinct per party (the
 * same signature verified by the Agent Home and by the buyer is two verifications, as it is
 * when they run apart; verified twice by one party, one).
 */
export function countCrypto(party: () => string = () => ''): { stop(): Map<CryptoOp, OpCount>; byParty: Map<string, number>; perParty: Map<string, Map<CryptoOp, OpCount>> } {
  const counts = new Map<CryptoOp, OpCount>();
  /** the same counts for each party apart (what each role's priced CPU is made of) */
  const perParty = new Map<string, Map<CryptoOp, OpCount>>();
  /** calls by party (other than hashes), to see that every call was told whose it is */
  const byParty = new Map<string, number>();
  const seen = new Set<string>();
  const note = (op: CryptoOp, input: string, bytes: number) => {
    const c = counts.get(op) ?? { count: 0, distinct: 0, bytes: 0, distinctBytes: 0 };
    c.count++;
    c.bytes += bytes;
    const who = party();
    if (op !== 'sha-256') byParty.set(who, (byParty.get(who) ?? 0) + 1);
    const id = `${op}|${who}|${input}`;
    const mine = perParty.get(who) ?? new Map<CryptoOp, OpCount>();
    perParty.set(who, mine);
    const pc = mine.get(op) ?? { count: 0, distinct: 0, bytes: 0, distinctBytes: 0 };
    mine.set(op, pc);
    pc.count++;
    pc.bytes += bytes;
    if (!seen.has(id)) {
      seen.add(id);
      c.distinct++;
      c.distinctBytes += bytes;
      pc.distinct++;
      pc.distinctBytes += bytes;
    }
    counts.set(op, c);
  };
  const { sign, verify, privateDecrypt, publicEncrypt, hash, createHash, generateKeyPair } = nodeCrypto;
  const c = nodeCrypto as unknown as Record<string, unknown>;
  const { crypto_sign_detached: sodiumSign, crypto_sign_verify_detached: sodiumVerify } = sodium;

  sodium.crypto_sign_detached = (sig, m, sk) => {
    note('ed25519 sign', fingerprint(m), m.byteLength);
    sodiumSign(sig, m, sk);
  };
  sodium.crypto_sign_verify_detached = (sig, m, pk) => {
    note('ed25519 verify', fingerprint(m, sig), m.byteLength);
    return sodiumVerify(sig, m, pk);
  };

  c.sign = (alg: string | null, data: NodeJS.ArrayBufferView, key: unknown, ...rest: unknown[]) => {
    const type = keyObjectOf(key)?.asymmetricKeyType;
    note(type === 'ed25519' ? 'ed25519 sign' : type === 'rsa' ? 'rsa sign/verify via node sign()' : 'other', fingerprint(data), data.byteLength);
    return (sign as (...a: unknown[]) => unknown)(alg, data, key, ...rest);
  };
  c.verify = (alg: string | null, data: NodeJS.ArrayBufferView, key: unknown, sig: NodeJS.ArrayBufferView, ...rest: unknown[]) => {
    const type = keyObjectOf(key)?.asymmetricKeyType;
    note(type === 'ed25519' ? 'ed25519 verify' : type === 'rsa' ? 'rsa sign/verify via node sign()' : 'other', fingerprint(data, sig), data.byteLength);
    return (verify as (...a: unknown[]) => unknown)(alg, data, key, sig, ...rest);
  };
  c.privateDecrypt = (key: unknown, data: NodeJS.ArrayBufferView) => {
    note(rsaExponentOp(keyObjectOf(key), true), fingerprint(data), 0);
    return privateDecrypt(key as Parameters<typeof privateDecrypt>[0], data);
  };
  c.publicEncrypt = (key: unknown, data: NodeJS.ArrayBufferView) => {
    const k = keyObjectOf(key);
    const op = rsaExponentOp(k, false);
    // the exponent is part of what makes a completion distinct (m^d2 and s^e share inputs)
    note(op, fingerprint(data) + String(k?.asymmetricKeyDetails?.publicExponent ?? ''), 0);
    return publicEncrypt(key as Parameters<typeof publicEncrypt>[0], data);
  };
  c.hash = (alg: string, data: Bytes, ...rest: unknown[]) => {
    if (alg.toLowerCase() === 'sha256') note('sha-256', fingerprint(data), byteLen(data));
    return (hash as (...a: unknown[]) => unknown)(alg, data, ...rest);
  };
  c.createHash = (alg: string, ...rest: unknown[]) => {
    const h = (createHash as (...a: unknown[]) => import('node:crypto').Hash)(alg, ...rest);
    if (alg.toLowerCase() !== 'sha256') return h;
    // one hash = everything updated into it; counted when digested
    const parts: Bytes[] = [];
    const update = h.update.bind(h);
    const digest = h.digest.bind(h);
    const hh = h as unknown as Record<string, unknown>;
    hh.update = (data: Bytes, enc?: BufferEncoding) => {
      parts.push(typeof data === 'string' ? Buffer.from(data, enc) : data);
      update(data as string, enc as BufferEncoding);
      return h;
    };
    hh.digest = (...a: unknown[]) => {
      note('sha-256', fingerprint(...parts), parts.reduce((n, p) => n + byteLen(p), 0));
      return (digest as (...x: unknown[]) => unknown)(...a);
    };
    return h;
  };
  c.generateKeyPair = (type: string, ...rest: unknown[]) => {
    note(type === 'rsa' ? 'rsa key generation' : 'other', String(Math.random()), 0);
    return (generateKeyPair as (...a: unknown[]) => unknown)(type, ...rest);
  };
  syncBuiltinESMExports();
  return {
    byParty,
    perParty,
    stop() {
      Object.assign(nodeCrypto, { sign, verify, privateDecrypt, publicEncrypt, hash, createHash, generateKeyPair });
      syncBuiltinESMExports();
      Object.assign(sodium, { crypto_sign_detached: sodiumSign, crypto_sign_verify_detached: sodiumVerify });
      return counts;
    },
  };
}

// --- NATS ---------------------------------------------------------------------------

interface Seen {
  subject: string;
  reply?: string;
  bytes: number;
  at: number;
  /** the party whose connection published it (see Wiretap.attribute); none for the server's own */
  from?: string;
}

/**
 * NATS operations by party, for the priced CPU of each role (bench/limit.ts): the requests a
 * party made and those it answered, its plain publishes and JetStream writes, the stored
 * messages delivered to its watches (known by the consumer ack it sends back).
 */
export interface PartyWire {
  requests: number;
  answered: number;
  publishes: number;
  jsWrites: number;
  deliveries: number;
}

export interface WireCounts {
  /** requests with a reply, by normalised subject: count and request bytes */
  requests: Map<string, { count: number; bytes: number }>;
  /** JetStream writes (acknowledged by a PubAck), by stream */
  jsWrites: Map<string, { count: number; bytes: number }>;
  /** JetStream API requests by kind ($JS.API.DIRECT.GET, STREAM.MSG.GET, …) */
  jsApi: Map<string, number>;
  /** publishes without a reply (events, progress notes), by normalised subject */
  publishes: Map<string, { count: number; bytes: number }>;
  /** replies to the requests above, and to the JetStream API requests */
  replies: { count: number; bytes: number };
  jsApiReplies: { count: number; bytes: number };
  /** stored messages a consumer delivered (KV watches), by stream */
  deliveries: Map<string, { count: number; bytes: number }>;
  /** PubAcks, consumer acks, and anything else */
  other: Map<string, number>;
  total: number;
  /** the operations above by party, where the sender is known ('(unknown)' otherwise) */
  byParty: Map<string, PartyWire>;
}

const API_KINDS = ['DIRECT.GET', 'STREAM.MSG.GET', 'STREAM.INFO', 'STREAM.NAMES', 'STREAM.LIST', 'STREAM.CREATE', 'CONSUMER.MSG.NEXT', 'CONSUMER.CREATE', 'CONSUMER.DURABLE.CREATE', 'CONSUMER.INFO', 'CONSUMER.DELETE', 'INFO'];

function bump<K>(m: Map<K, { count: number; bytes: number }>, k: K, bytes: number): void {
  const c = m.get(k) ?? { count: 0, bytes: 0 };
  c.count++;
  c.bytes += bytes;
  m.set(k, c);
}

/** Records every message on the server from now on (the tap's own connection sends none). */
export class Wiretap {
  private readonly log: Seen[] = [];
  private readonly acks = new Map<string, string>();
  private sub?: Subscription;
  /** senders of messages published but not yet seen by the tap, by subject and reply */
  private readonly senders = new Map<string, string[]>();
  last = Date.now();

  constructor(
    private readonly nc: NatsConnection,
    /** party ids, shown as `<id>` in subjects (session numbers as `<sn>`) */
    private readonly ids: ReadonlySet<string>,
  ) {}

  private normalise(subject: string): string {
    return subject
      .split('.')
      .map((t) => (this.ids.has(t) ? '<id>' : /^[0-9a-f]{32}$/.test(t) ? '<sn>' : t))
      .join('.');
  }

  /**
   * Tells the tap who sends what: wraps the publish of nats.js's protocol handler (which
   * every client publish, request and JetStream write ends in, for every connection of this
   * process) so that each message is noted with `party()` at the time it is sent. Returns
   * the function that restores it.
   */
  attribute(party: () => string): () => void {
    const proto = Object.getPrototypeOf((this.nc as unknown as { protocol: object }).protocol) as { publish: (subject: string, data: unknown, options?: { reply?: string }) => void };
    const real = proto.publish;
    const senders = this.senders;
    proto.publish = function (this: unknown, subject: string, data: unknown, options?: { reply?: string }) {
      const key = `${subject} ${options?.reply ?? ''}`;
      const q = senders.get(key) ?? [];
      q.push(party());
      senders.set(key, q);
      return real.call(this, subject, data, options);
    };
    return () => {
      proto.publish = real;
    };
  }

  async start(): Promise<void> {
    this.sub = this.nc.subscribe('>', {
      callback: (_e, m) => {
        this.last = Date.now();
        const key = `${m.subject} ${m.reply ?? ''}`;
        const q = this.senders.get(key);
        const from = q?.shift();
        if (q && !q.length) this.senders.delete(key);
        this.log.push({ subject: m.subject, ...(m.reply ? { reply: m.reply } : {}), bytes: m.data.length, at: this.last, ...(from ? { from } : {}) });
        if (m.subject.startsWith('_INBOX') && m.data.length < 300) {
          // a PubAck: {"stream":"…","seq":n} (with "domain" or "duplicate" at times)
          try {
            const j = JSON.parse(new TextDecoder().decode(m.data)) as { stream?: unknown; seq?: unknown };
            if (typeof j.stream === 'string' && typeof j.seq === 'number') this.acks.set(m.subject, j.stream);
          } catch {
            // not JSON: a reply or a delivery
          }
        }
      },
    });
    await this.nc.flush();
  }

  /** Resolves once nothing has crossed the server for `quietMs` (or after `maxMs`). */
  async quiet(quietMs: number, maxMs = 30_000): Promise<void> {
    const end = Date.now() + maxMs;
    while (Date.now() - this.last < quietMs && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  }

  /** Forgets what was recorded so far. */
  reset(): void {
    this.log.length = 0;
    this.acks.clear();
    this.senders.clear();
  }

  stop(): void {
    this.sub?.unsubscribe();
  }

  counts(): WireCounts {
    const w: WireCounts = {
      requests: new Map(),
      jsWrites: new Map(),
      jsApi: new Map(),
      publishes: new Map(),
      replies: { count: 0, bytes: 0 },
      jsApiReplies: { count: 0, bytes: 0 },
      deliveries: new Map(),
      other: new Map(),
      total: this.log.length,
      byParty: new Map(),
    };
    const other = (k: string) => w.other.set(k, (w.other.get(k) ?? 0) + 1);
    const party = (who: string | undefined): PartyWire => {
      const id = who ?? '(unknown)';
      const p = w.byParty.get(id) ?? { requests: 0, answered: 0, publishes: 0, jsWrites: 0, deliveries: 0 };
      w.byParty.set(id, p);
      return p;
    };
    // who acknowledged each delivery: the party it was delivered to
    const ackedBy = new Map<string, string | undefined>();
    for (const m of this.log) if (m.subject.startsWith('$JS.ACK.')) ackedBy.set(m.subject, m.from);
    // what each reply inbox was given for: a JetStream API request or another request
    const awaiting = new Map<string, 'api' | 'request'>();
    for (const m of this.log) {
      if (m.reply?.startsWith('$JS.ACK.')) {
        // $JS.ACK.<stream>.<consumer>.…
        bump(w.deliveries, m.reply.split('.')[2] ?? '?', m.bytes);
        party(ackedBy.get(m.reply)).deliveries++;
        continue;
      }
      if (m.reply && !this.acks.has(m.reply)) awaiting.set(m.reply, m.subject.startsWith('$JS.API.') ? 'api' : 'request');
      if (m.subject.startsWith('_INBOX')) {
        const kind = awaiting.get(m.subject);
        if (this.acks.has(m.subject)) other('JetStream PubAck');
        else if (m.bytes === 0) other('empty inbox message (status)');
        else if (kind === 'api') {
          w.jsApiReplies.count++;
          w.jsApiReplies.bytes += m.bytes;
        } else if (kind === 'request') {
          w.replies.count++;
          w.replies.bytes += m.bytes;
          party(m.from).answered++;
        } else other('inbox message (consumer delivery)');
      } else if (m.subject.startsWith('$KV.')) {
        // a KV write, acknowledged or not (a refused compare-and-set gets an error instead)
        bump(w.jsWrites, `KV_${m.subject.split('.')[1]}`, m.bytes);
        party(m.from).jsWrites++;
      } else if (m.subject.startsWith('$JS.API.')) {
        const rest = m.subject.slice('$JS.API.'.length);
        const kind = API_KINDS.find((k) => rest === k || rest.startsWith(k + '.')) ?? rest.split('.').slice(0, 2).join('.');
        w.jsApi.set(kind, (w.jsApi.get(kind) ?? 0) + 1);
      } else if (m.subject.startsWith('$JS.ACK.')) other('JetStream consumer ack');
      else if (m.subject.startsWith('$JS.EVENT.')) other('JetStream advisory (server)');
      else if (m.reply && this.acks.has(m.reply)) {
        bump(w.jsWrites, this.acks.get(m.reply)!, m.bytes);
        party(m.from).jsWrites++;
      } else if (m.reply) {
        bump(w.requests, this.normalise(m.subject), m.bytes);
        party(m.from).requests++;
      } else {
        bump(w.publishes, this.normalise(m.subject), m.bytes);
        party(m.from).publishes++;
      }
    }
    return w;
  }
}
