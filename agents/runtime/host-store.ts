/**
 * Durable record of the agents a host has accepted, so that an acknowledged migration is
 * never lost and never run twice. Each arrival is keyed by (agent id, hop); the first
 * `accept` of a key wins atomically and every later one reports a duplicate. Work then
 * moves accepted → handled (the outgoing envelope is stored) → done, so a host killed at
 * any point resumes where it stopped without re-running its handler.
 *
 * Several processes of one host may share a JetStream store: state writes are then
 * compare-and-set against the revision the writer last saw, and each state names the
 * instance working on it and until when (its lease, agents/runtime/lease.ts), so the host
 * runtime can take over the work of an instance that died and an instance that lost its
 * lease can never overwrite the new owner's progress.
 *
 * Two implementations: JetStream KV (the Agent Home) and a journal file (stores, which have
 * no JetStream access once per-role permissions are on, and run as one process).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { KV, KvEntry, NatsConnection } from 'nats';
import { Journal } from '../storage/journal.js';
import type { Envelope } from './envelope.js';
import { watchEntries } from '../storage/kv.js';
import { KvClient } from '../storage/kv-client.js';
import { parseStrictJson } from '../../crypto/strict-json.js';

export type WorkPhase = 'accepted' | 'handled' | 'done';

export interface WorkState {
  phase: WorkPhase;
  /** what the handler decided, for the host's own records (the JetStream store keeps no state once done) */
  note?: string;
  /** the envelope to forward, once handled; absent when the agent stops here */
  outgoing?: Envelope | null;
  /** the host instance working on it, and until when (ms since the epoch) it may */
  owner?: string;
  leaseUntil?: number;
  /** how many times the work was taken over from an instance that did not finish it */
  takeovers?: number;
}

/** A work state as stored, with the revision a compare-and-set names (0: none stored yet). */
export interface StoredState {
  state: WorkState;
  revision: number;
}

/** Work that is not done, as last seen. */
export interface PendingWork {
  key: string;
  /** the revision of its state (0: none stored yet, it is accepted) */
  revision: number;
  /**
   * when its arrival or its state was last written (ms since the epoch, the store's clock;
   * 0 when unknown): every write moves the writer's lease on
   */
  writtenAt: number;
}

export interface HostStore {
  /**
   * true when several processes may share the store: each then takes over work whose lease
   * ran out while it runs; otherwise pending work is resumed at start only
   */
  readonly shared: boolean;
  /**
   * Stores the arrival under `key` unless one is already there. `raw` is the envelope's JSON
   * exactly as received (already parsed and validated into `env`), stored as it is rather
   * than serialised again.
   */
  accept(key: string, env: Envelope, raw?: Uint8Array): Promise<'new' | 'duplicate'>;
  envelope(key: string): Promise<Envelope | undefined>;
  /** The work state of `key`; undefined when nothing arrived under it. */
  state(key: string): Promise<StoredState | undefined>;
  /**
   * Compare-and-set: stores `state` only if the stored state is still at `revision` (0: none
   * stored yet). Returns the new revision, or undefined when another writer came first.
   */
  setState(key: string, state: WorkState, revision: number): Promise<number | undefined>;
  /** work that is not done */
  pending(): Promise<PendingWork[]>;
}

export function workKey(agentId: string, hop: number): string {
  return `${agentId}.${hop}`;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * JetStream KV bucket `parley_host_<hostId>`: `in.<key>` envelope, `st.<key>` state until
 * the work is done, then a delete marker (so "done" is visible without reading a value).
 *
 * Pending work is known from a view kept in memory, never from listing keys (nats.js's
 * key listing can hang while the bucket is written to): each `pending()` brings it up to
 * date with a short watch of what was written since the last one, without values (keys,
 * revisions, times and delete markers are enough). A watch left open would cost every
 * write on the migration hot path a delivery to each process; a filtered one, on
 * nats-server 2.9, a search of the bucket's subjects.
 */
export class JetStreamHostStore implements HostStore {
  readonly shared = true;
  /** work not done, by key */
  private readonly view = new Map<string, PendingWork>();
  /** the last revision (stream sequence) the view has seen */
  private seen = 0;
  private catchingUp?: Promise<void>;

  private constructor(
    /** watched (catching up on pending work) */
    private readonly kv: KV,
    /** reads and writes (the writes on the migration hot path) */
    private readonly client: KvClient,
  ) {}

  static async open(nc: NatsConnection, hostId: string, opts: { replicas?: number; ttlMs?: number } = {}): Promise<JetStreamHostStore> {
    const bucket = `parley_host_${hostId.replace(/-/g, '_')}`;
    const kv = await nc.jetstream().views.kv(bucket, {
      history: 1,
      replicas: opts.replicas ?? 1,
      ttl: opts.ttlMs ?? 7 * 24 * 3600_000,
    });
    return new JetStreamHostStore(kv, new KvClient(nc, bucket));
  }

  async accept(key: string, env: Envelope, raw?: Uint8Array): Promise<'new' | 'duplicate'> {
    // one write: an arrival without a state record is in phase 'accepted'
    // records are never deleted, so "never written" is "absent"
    return (await this.client.create(`in.${key}`, raw ?? enc.encode(JSON.stringify(env)))) ? 'new' : 'duplicate';
  }

  async envelope(key: string): Promise<Envelope | undefined> {
    const e = await this.client.get(`in.${key}`);
    return e && e.operation === 'PUT' ? (parseStrictJson(dec.decode(e.value)) as Envelope) : undefined;
  }

  async state(key: string): Promise<StoredState | undefined> {
    const e = await this.client.get(`st.${key}`);
    if (e?.operation === 'PUT') return { state: parseStrictJson(dec.decode(e.value)) as WorkState, revision: e.revision };
    // done, or expired (the bucket's records live a week): nothing pending, whatever the view last saw
    if (e) {
      this.view.delete(key);
      return { state: { phase: 'done' }, revision: e.revision };
    }
    // an arrival stored but killed before its state: it was accepted
    if (await this.envelope(key)) return { state: { phase: 'accepted' }, revision: 0 };
    this.view.delete(key);
    return undefined;
  }

  async setState(key: string, state: WorkState, revision: number): Promise<number | undefined> {
    const k = `st.${key}`;
    return state.phase === 'done' ? this.client.deleteAt(k, revision) : this.client.updateJson(k, state, revision);
  }

  async pending(): Promise<PendingWork[]> {
    await (this.catchingUp ??= this.catchUp().finally(() => (this.catchingUp = undefined)));
    return [...this.view.values()].map((p) => ({ ...p }));
  }

  /** Reads what was written since the last catch-up (the first time: every key's current entry). */
  private async catchUp(): Promise<void> {
    const stop = await watchEntries(this.kv, (e) => this.onEntry(e), { headersOnly: true, fromRevision: this.seen + 1, initTimeoutMs: 30_000 });
    stop();
  }

  /** In the order written: a key is pending from its arrival until the delete marker of its state. */
  private onEntry(e: KvEntry): void {
    if (e.revision <= this.seen) return;
    this.seen = e.revision;
    const state = e.key.startsWith('st.');
    const key = e.key.slice(3);
    if (e.operation !== 'PUT') {
      if (state) this.view.delete(key);
      return;
    }
    this.view.set(key, { key, revision: state ? e.revision : 0, writtenAt: e.created.getTime() });
  }
}

/** A journal line: an arrival (its envelope as received), a work state, or done. */
type JournalRecord = { t: 'in'; k: string; x: number; env: unknown } | { t: 'st'; k: string; s: WorkState } | { t: 'done'; k: string; x: number };

/** The lines of those records; an arrival's envelope goes in as the JSON text received. */
const journalLine = {
  in: (key: string, expires: number, envJson: string) => `{"t":"in","k":${JSON.stringify(key)},"x":${expires},"env":${envJson}}`,
  st: (key: string, state: WorkState) => JSON.stringify({ t: 'st', k: key, s: state } satisfies JournalRecord),
  done: (key: string, expires: number) => JSON.stringify({ t: 'done', k: key, x: expires } satisfies JournalRecord),
};

interface Hosted {
  /** the envelope's JSON as received, while the work is not done */
  raw?: string;
  state?: WorkState;
  done: boolean;
  /** the agent's expiry (ms since the epoch): the key is kept until then to refuse a replay */
  expires: number;
  /** settles once the arrival is durable (a duplicate is acknowledged only after it) */
  durable: Promise<unknown>;
}

/** Compaction once the journal has grown to this size (or to twice what the last one left). */
const COMPACT_AT_BYTES = 8 * 1024 * 1024;

/**
 * A journal file `<dir>/journal.jsonl` (agents/storage/journal.ts) and its content in
 * memory: arrivals, states and "done" markers are appended, several visits' records
 * sharing one write and one fsync. For one process: revisions are not checked (there is no
 * other writer), and pending work is resumed at start. A done key is remembered until its
 * agent expires, so a late duplicate of an arrival is still recognised; after that the
 * runtime refuses the agent as expired anyway. Compaction rewrites the journal with the
 * work that is not done and the done keys not yet expired.
 */
export class FileHostStore implements HostStore {
  readonly shared = false;
  private readonly journal: Journal;
  private readonly hosted = new Map<string, Hosted>();
  private compacting?: Promise<void>;
  private compactAt: number;

  constructor(
    dir: string,
    private readonly compactAtBytes = COMPACT_AT_BYTES,
  ) {
    mkdirSync(dir, { recursive: true });
    const { journal, records } = Journal.open(join(dir, 'journal.jsonl'));
    this.journal = journal;
    this.compactAt = compactAtBytes;
    const ready = Promise.resolve();
    for (const r of records as JournalRecord[]) {
      const h = this.hosted.get(r.k);
      if (r.t === 'in') this.hosted.set(r.k, { raw: JSON.stringify(r.env), done: false, expires: r.x, durable: ready });
      else if (r.t === 'st' && h) h.state = r.s;
      // after a compaction a done key has no arrival record before it
      else if (r.t === 'done') this.hosted.set(r.k, { done: true, expires: r.x, durable: ready });
    }
  }

  async accept(key: string, env: Envelope, raw?: Uint8Array): Promise<'new' | 'duplicate'> {
    const known = this.hosted.get(key);
    if (known) {
      await known.durable;
      // the first arrival failed to be stored: this one is new after all
      if (this.hosted.get(key) === known) return 'duplicate';
      return this.accept(key, env, raw);
    }
    // the bytes as received, unless they span lines (JSON allows line breaks between tokens)
    let text = raw ? dec.decode(raw) : JSON.stringify(env);
    if (text.includes('\n')) text = JSON.stringify(env);
    const expires = Date.parse(env.header.body.expires);
    const h: Hosted = { raw: text, done: false, expires, durable: Promise.resolve() };
    this.hosted.set(key, h);
    h.durable = this.journal.append(journalLine.in(key, expires, text));
    try {
      await h.durable;
    } catch (e) {
      this.hosted.delete(key);
      throw e;
    }
    return 'new';
  }

  async envelope(key: string): Promise<Envelope | undefined> {
    const raw = this.hosted.get(key)?.raw;
    return raw === undefined ? undefined : (parseStrictJson(raw) as Envelope);
  }

  async state(key: string): Promise<StoredState | undefined> {
    const h = this.hosted.get(key);
    if (!h) return undefined;
    if (h.done) return { state: { phase: 'done' }, revision: 1 };
    return h.state ? { state: h.state, revision: 1 } : { state: { phase: 'accepted' }, revision: 0 };
  }

  async setState(key: string, state: WorkState, revision: number): Promise<number> {
    const h = this.hosted.get(key);
    if (!h) throw new Error(`no arrival stored under ${key}`);
    // memory first, so that a compaction starting meanwhile writes the new state too
    const before = { ...h };
    // done after handled: if that record is lost in a crash, the agent is only sent on
    // again, and the next host acknowledges it as a duplicate; so it goes out with the next
    // synced batch rather than costing one of its own, and nothing waits for it
    const lazy = state.phase === 'done' && h.state?.phase === 'handled';
    if (state.phase === 'done') Object.assign(h, { done: true, raw: undefined, state: undefined });
    else h.state = state;
    const line = state.phase === 'done' ? journalLine.done(key, h.expires) : journalLine.st(key, state);
    if (lazy) void this.journal.append(line, { lazy: true }).catch(() => undefined);
    else {
      try {
        await this.journal.append(line);
      } catch (e) {
        Object.assign(h, before);
        throw e;
      }
    }
    if (state.phase === 'done' && this.journal.size >= this.compactAt) void this.compact();
    return revision + 1;
  }

  async pending(): Promise<PendingWork[]> {
    const out: PendingWork[] = [];
    for (const [key, h] of this.hosted) if (!h.done) out.push({ key, revision: h.state ? 1 : 0, writtenAt: 0 });
    return out;
  }

  /** Waits for the journal's writes and closes it. */
  async close(): Promise<void> {
    await this.compacting;
    await this.journal.close();
  }

  /**
   * Rewrites the journal with what is still needed; expired done keys are forgotten. Runs
   * by itself whenever the journal has grown enough (a failure leaves the old journal, which
   * is still valid, and the next finished work tries again).
   */
  compact(): Promise<void> {
    return (this.compacting ??= (async () => {
      const now = Date.now();
      const keep: string[] = [];
      for (const [key, h] of this.hosted) {
        if (h.done && h.expires <= now) {
          this.hosted.delete(key);
          continue;
        }
        if (h.done) keep.push(journalLine.done(key, h.expires));
        else {
          keep.push(journalLine.in(key, h.expires, h.raw!));
          if (h.state) keep.push(journalLine.st(key, h.state));
        }
      }
      await this.journal.rewrite(keep);
      // live records alone may be large: let the journal double before the next compaction
      this.compactAt = Math.max(this.compactAtBytes, 2 * this.journal.size);
    })()
      .catch(() => undefined)
      .finally(() => (this.compacting = undefined)));
  }
}
