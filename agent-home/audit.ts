/**
 * The Agent Home's audit log: every state change (session opened, escrow stored, invite
 * sent / home / lost, negotiation outcome, agreement, resolution, abort, merchant
 * registered) is appended to the JetStream stream PARLEY_AUDIT as a signed record
 * (signed-object type `audit-record`, Ed25519 with the Agent Home's identity key):
 *
 *   { seq, at, event, sn?, details, prev }
 *
 * `seq` is the record's own stream sequence and `prev` the SHA-256 (hex) of the previous
 * record's bytes as stored (64 zeros for the first), so a record that is removed, altered,
 * reordered or slipped in breaks a link or a signature. `details` never holds a secret: no
 * d2, no rules, no key (checked on every append).
 *
 * Several Agent Home processes may share the stream: each append states the stream's last
 * sequence it links to (`expect: { lastSequence }`), so two appends can never both link to
 * the same record (the chain never forks); the loser reads the new tail and tries again.
 * Each event has a message id (`<event>:<key>`), so an append repeated after a crash or a
 * lost acknowledgement is stored once.
 */
import { headers, type JetStreamManager, type NatsConnection } from 'nats';
import { z } from 'zod';
import { canonicalBytes, type JsonValue } from '../crypto/canonical.js';
import { toHex } from '../crypto/bytes.js';
import { sha256 } from '../crypto/hash.js';
import { openSignedObject, signObject, type SignedObject } from '../crypto/signed.js';
import { isParleyError } from '../crypto/errors.js';
import { parseStrictJson } from '../crypto/strict-json.js';
import { checkPartyId } from '../protocol/subjects.js';
import { isTransient, retry } from '../agents/transport/retry.js';
import { WRONG_LAST_SEQUENCE } from '../agents/storage/kv-client.js';
import { JetStreamReplies } from '../agents/storage/js-replies.js';

export const AUDIT_STREAM = 'PARLEY_AUDIT';
export const AUDIT_TYPE = 'audit-record';
export const AUDIT_SUBJECTS = 'parley.v1.audit.>';
export const auditSubject = (homeId: string) => `parley.v1.audit.${checkPartyId(homeId, 'home id')}`;
/** `prev` of the first record */
export const GENESIS = '0'.repeat(64);

export const AUDIT_EVENTS = [
  'session-opened',
  'escrow-stored',
  'invite-sent',
  'invite-home',
  'invite-lost',
  'nobody-to-invite',
  'negotiation',
  'agreement',
  'resolution',
  'abort',
  'merchant-registered',
] as const;
export type AuditEvent = (typeof AUDIT_EVENTS)[number];

export type AuditDetails = { [key: string]: JsonValue };

export interface AuditRecord {
  seq: number;
  at: string;
  event: AuditEvent;
  sn?: string;
  details: AuditDetails;
  prev: string;
}

/** Field names that would carry a secret; a record holding one is refused. */
const SECRET_FIELDS = new Set(['d2', 'd1', 'd', 'p', 'q', 'rules', 'key', 'keys', 'secret', 'secretkey', 'masterkey', 'sealed', 'sg1', 'sg', 'escrow']);

function assertNoSecrets(v: JsonValue, path = 'details'): void {
  if (Array.isArray(v)) v.forEach((x, i) => assertNoSecrets(x, `${path}[${i}]`));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (SECRET_FIELDS.has(k.toLowerCase())) throw new TypeError(`audit ${path}.${k}: secrets never go into the audit log`);
      assertNoSecrets(x, `${path}.${k}`);
    }
  }
}

const HOUR_NS = 3600 * 1e9;

export async function ensureAuditStream(jsm: JetStreamManager, replicas = 1): Promise<void> {
  try {
    await jsm.streams.info(AUDIT_STREAM);
  } catch (e) {
    if ((e as { code?: string }).code !== '404') throw e;
    await jsm.streams.add({ name: AUDIT_STREAM, subjects: [AUDIT_SUBJECTS], num_replicas: replicas, allow_direct: true, duplicate_window: 24 * HOUR_NS });
  }
}

function hashOf(raw: Uint8Array): string {
  return toHex(sha256(raw));
}

interface PendingAppend {
  event: AuditEvent;
  msgID: string;
  details: AuditDetails;
  sn?: string;
  resolve(seq: number): void;
  reject(err: unknown): void;
}

/** Most records written in one pipelined batch. */
const BATCH = 64;

export class AuditLog {
  /** the last record this process knows of (refreshed from the stream on conflict) */
  private tail?: { seq: number; hash: string };
  private readonly pending: PendingAppend[] = [];
  private writing = false;
  /** records appended by this process (tests) */
  appended = 0;

  private constructor(
    /** appends, as plain publishes awaiting their PubAck (js-replies.ts) */
    private readonly js: JetStreamReplies,
    private readonly jsm: JetStreamManager,
    private readonly subject: string,
    private readonly secretKey: Uint8Array,
  ) {}

  static async open(nc: NatsConnection, self: { id: string; secretKey: Uint8Array }, opts: { replicas?: number } = {}): Promise<AuditLog> {
    const jsm = await nc.jetstreamManager();
    await retry(() => ensureAuditStream(jsm, opts.replicas));
    return new AuditLog(new JetStreamReplies(nc, `stream ${AUDIT_STREAM}`), jsm, auditSubject(self.id), self.secretKey);
  }

  /**
   * Appends one record; `key` identifies the state change (with the event, the message id),
   * so appending the same change again stores nothing new. Returns the record's sequence.
   * Appends of one process are linked in call order; those waiting together are written as
   * one pipelined batch (each record links to the one before it in the batch and states the
   * sequence it expects), so the log costs about one round trip per batch, not per record.
   */
  append(event: AuditEvent, key: string, details: AuditDetails, sn?: string): Promise<number> {
    assertNoSecrets(details);
    return new Promise((resolve, reject) => {
      this.pending.push({ event, msgID: `${event}:${key}`, details, ...(sn ? { sn } : {}), resolve, reject });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pending.length) await this.writeBatch(this.pending.splice(0, BATCH));
    } finally {
      this.writing = false;
    }
  }

  /** Writes `batch` in order, linking each record to the one before; retries what did not land. */
  private async writeBatch(batch: PendingAppend[]): Promise<void> {
    let todo = batch;
    for (let attempt = 1; todo.length; attempt++) {
      let tail: { seq: number; hash: string };
      try {
        tail = this.tail ?? (await retry(() => this.readTail()));
      } catch (e) {
        for (const item of todo) item.reject(e);
        return;
      }
      let { seq, hash } = tail;
      const sent = todo.map((item) => {
        const body: AuditRecord = { seq: seq + 1, at: new Date().toISOString(), event: item.event, ...(item.sn ? { sn: item.sn } : {}), details: item.details, prev: hash };
        const raw = canonicalBytes(signObject(AUDIT_TYPE, body, this.secretKey));
        // the message id makes a repeated append a duplicate; the expected last sequence keeps the chain from forking
        const h = headers();
        h.set('Nats-Msg-Id', item.msgID);
        h.set('Nats-Expected-Last-Sequence', String(seq));
        const ack = this.js.publish(this.subject, raw, h);
        seq += 1;
        hash = hashOf(raw);
        return { item, ack, hash };
      });
      const results = await Promise.allSettled(sent.map((s) => s.ack));
      const again: PendingAppend[] = [];
      let chainIntact = true;
      for (const [i, r] of results.entries()) {
        const { item, hash: h } = sent[i]!;
        if (r.status === 'fulfilled') {
          item.resolve(r.value.seq);
          if (r.value.duplicate) chainIntact = false; // recorded before: the records after it linked to nothing stored
          else if (chainIntact) {
            this.tail = { seq: r.value.seq, hash: h };
            this.appended++;
          } else this.appended++;
          continue;
        }
        chainIntact = false;
        const e = r.reason as { apiError?: { err_code?: number } };
        const conflict = e.apiError?.err_code === WRONG_LAST_SEQUENCE;
        // another process appended first (or JetStream was briefly away): link to the new tail
        if (attempt >= 50 || (!conflict && !isTransient(e))) item.reject(r.reason);
        else again.push(item);
      }
      if (!chainIntact) this.tail = undefined;
      todo = again;
      if (todo.length) await new Promise((res) => setTimeout(res, Math.min(500, 5 * attempt) * (0.5 + Math.random())));
    }
  }

  private async readTail(): Promise<{ seq: number; hash: string }> {
    const last = (await this.jsm.streams.info(AUDIT_STREAM)).state.last_seq;
    if (last === 0) return { seq: 0, hash: GENESIS };
    try {
      return { seq: last, hash: hashOf((await this.jsm.streams.getMessage(AUDIT_STREAM, { seq: last })).data) };
    } catch (e) {
      // the last record was deleted: the log is broken there already (verify says so);
      // new records still link to the stream's end
      if ((e as { code?: string }).code === '404') return { seq: last, hash: GENESIS };
      throw e;
    }
  }
}

/** One stream position as read back: the bytes, or nothing when the message is gone. */
export interface AuditEntry {
  seq: number;
  raw?: Uint8Array;
}

/** Every position of the stream from `from` (1: the whole log) to its last sequence (deleted ones without bytes). */
export async function readAuditLog(jsm: JetStreamManager, from = 1): Promise<AuditEntry[]> {
  let last: number;
  try {
    last = (await retry(() => jsm.streams.info(AUDIT_STREAM))).state.last_seq;
  } catch (e) {
    if ((e as { code?: string }).code === '404') return [];
    throw e;
  }
  const out: AuditEntry[] = [];
  for (let seq = Math.max(1, from); seq <= last; seq++) {
    try {
      out.push({ seq, raw: (await retry(() => jsm.streams.getMessage(AUDIT_STREAM, { seq }))).data });
    } catch (e) {
      if ((e as { code?: string }).code !== '404') throw e;
      out.push({ seq });
    }
  }
  return out;
}

export interface AuditCheck {
  ok: boolean;
  /** records read (positions with bytes) */
  records: number;
  /** the first position where a signature or a link does not hold */
  firstBroken?: { seq: number; reason: string };
}

/**
 * The shape of a record's body. Anything can be written into the stream by whoever may
 * publish to its subject: a foreign record is reported as such, never trusted to have fields.
 */
const AuditRecordSchema = z.strictObject({
  seq: z.number().int().min(1),
  at: z.string().max(64),
  event: z.string().max(64),
  sn: z.string().max(64).optional(),
  details: z.record(z.string(), z.json()),
  prev: z.string().regex(/^[0-9a-f]{64}$/),
});

/** Why `raw` is not a well-formed record (undefined when it is one), and its body when it is. */
function readRecord(raw: Uint8Array): { body: AuditRecord; signed: unknown } | { why: string } {
  let o: unknown;
  try {
    o = parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (e) {
    return { why: isParleyError(e) && e.code === 'ERR_JSON_DUPLICATE_KEY' ? 'a key appears twice' : 'not JSON' };
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return { why: 'not a signed object' };
  const parsed = AuditRecordSchema.safeParse((o as { body?: unknown }).body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { why: `malformed record: ${issue.path.length ? issue.path.join('.') : 'body'}: ${issue.message}` };
  }
  return { body: parsed.data as AuditRecord, signed: o };
}

/** Parses a record without checking its signature (for display); undefined when malformed. */
export function parseAuditRecord(raw: Uint8Array): SignedObject<AuditRecord> | undefined {
  const r = readRecord(raw);
  return 'why' in r ? undefined : (r.signed as SignedObject<AuditRecord>);
}

/**
 * Checks the whole log against the Agent Home's public key: each position holds a record,
 * signed by that key, stating its own sequence and linking to the bytes of the one before.
 */
export function verifyAuditLog(entries: readonly AuditEntry[], publicKey: Uint8Array): AuditCheck {
  let prev = GENESIS;
  let records = 0;
  const broken = (seq: number, reason: string): AuditCheck => ({ ok: false, records: entries.filter((e) => e.raw).length, firstBroken: { seq, reason } });
  let expected = 1;
  for (const e of entries) {
    if (e.seq !== expected) return broken(expected, 'record missing');
    expected++;
    if (!e.raw) return broken(e.seq, 'record missing (deleted from the stream)');
    records++;
    const shape = readRecord(e.raw);
    if ('why' in shape) return broken(e.seq, shape.why);
    let body: AuditRecord;
    try {
      body = openSignedObject<AuditRecord>(shape.signed, AUDIT_TYPE, publicKey);
    } catch (err) {
      return broken(e.seq, isParleyError(err) && err.code === 'ERR_OBJECT_SIGNATURE_INVALID' ? "signature is not the Agent Home's" : `not a signed audit record (${isParleyError(err) ? err.code : 'unreadable'})`);
    }
    if (body.seq !== e.seq) return broken(e.seq, `record states sequence ${String(body.seq)}, stored at ${e.seq}`);
    if (body.prev !== prev) return broken(e.seq, e.seq === 1 ? 'first record does not start the chain' : `link to record ${e.seq - 1} does not match`);
    if (!(AUDIT_EVENTS as readonly string[]).includes(body.event)) return broken(e.seq, `unknown event ${JSON.stringify(body.event)}`);
    prev = hashOf(e.raw);
  }
  return { ok: true, records };
}

/** What `parley home audit` prints: every readable record, and the check when asked for. */
export interface AuditReport {
  records: Array<AuditRecord | { seq: number; unreadable: true; why: string }>;
  verified?: AuditCheck;
}

export function auditReport(entries: readonly AuditEntry[], publicKey?: Uint8Array): AuditReport {
  const records: AuditReport['records'] = [];
  for (const e of entries) {
    if (!e.raw) continue;
    const r = readRecord(e.raw);
    records.push('why' in r ? { seq: e.seq, unreadable: true, why: r.why } : r.body);
  }
  return { records, ...(publicKey ? { verified: verifyAuditLog(entries, publicKey) } : {}) };
}

export function renderAudit(r: AuditReport): string {
  const lines = r.records.map((x) =>
    'unreadable' in x
      ? `#${x.seq}  (unreadable: ${x.why})`
      : `#${x.seq}  ${x.at}  ${x.event.padEnd(19)} ${x.sn ? `session ${x.sn.slice(0, 12)}  ` : ''}${Object.entries(x.details)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ')}`,
  );
  if (!lines.length) lines.push('the audit log is empty');
  const v = r.verified;
  if (v) lines.push(v.ok ? `audit log verified: ${v.records} records, every signature and link holds` : `audit log BROKEN at record #${v.firstBroken!.seq}: ${v.firstBroken!.reason}`);
  return lines.join('\n');
}
