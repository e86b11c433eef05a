/**
 * Writes to one JetStream KV bucket on a hot path: each write is a plain publish to the
 * key's subject (`$KV.<bucket>.<key>`, JetStream's default API prefix) that waits for the
 * server's PubAck, received on one reply subscription shared by all writes of the bucket.
 * The ack comes only after the server has stored the message, exactly as with `kv.put`.
 *
 * Why not `kv.create` / `kv.put`: every nats.js request builds three Error objects with
 * stack traces (an async-trace context, a ready-made timeout error, and a "cancelled" error
 * even on success), some 15-20 µs each on a busy host, plus layers of option handling; on
 * the migration hop that was ~0.1 ms of ~1.3 ms. Reads still go through nats.js's KV.
 */
import { createInbox, headers, type Msg, type MsgHdrs, type NatsConnection } from 'nats';
import { WRONG_LAST_SEQUENCE } from './kv.js';

const KEY_RE = /^[-/=\w]+(\.[-/=\w]+)*$/;
const dec = new TextDecoder();
const EMPTY = new Uint8Array(0);

/** The same header on every create: "store only if this subject holds no message yet". */
const EXPECT_NEW: MsgHdrs = headers();
EXPECT_NEW.set('Nats-Expected-Last-Subject-Sequence', '0');

/** A write JetStream refused (`api_error` as the server sent it) or did not answer. */
export class KvWriteError extends Error {
  constructor(
    message: string,
    readonly apiError?: ApiError,
  ) {
    super(message);
    this.name = 'KvWriteError';
  }
}

type ApiError = { code?: number; err_code?: number; description?: string };
type PubAck = { stream?: string; seq?: unknown; error?: ApiError };

interface Waiter {
  resolve(seq: number): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The connection's reply-subject prefix (nats.js `inboxPrefix`, which a secured broker may
 * impose); nats.js's connection exposes its options, though its interface type does not.
 */
function inboxPrefixOf(nc: NatsConnection): string | undefined {
  return (nc as NatsConnection & { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
}

export class KvWriter {
  private readonly inbox: string;
  private readonly waiting = new Map<string, Waiter>();
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly bucket: string,
    private readonly timeoutMs = 5000,
  ) {
    this.inbox = createInbox(inboxPrefixOf(nc));
    nc.subscribe(`${this.inbox}.*`, { callback: (_err, msg) => this.settle(msg) });
    void nc.closed().then(() => this.failAll(`the connection closed before JetStream acknowledged a write to bucket ${this.bucket}`));
  }

  /**
   * Stores `data` under `key` only if the key has never been written (the server decides
   * atomically); false when it has. As `kv.create`, except that a deleted key still counts
   * as written: for records that are never deleted.
   */
  async create(key: string, data: Uint8Array): Promise<boolean> {
    return (await this.writeAt(key, data, 0)) !== undefined;
  }

  /**
   * Compare-and-set: stores `data` under `key` only if the key's last revision is still
   * `revision` (0: never written). Returns the new revision, or undefined when someone else
   * wrote the key in between.
   */
  update(key: string, data: Uint8Array, revision: number): Promise<number | undefined> {
    return this.writeAt(key, data, revision);
  }

  /** Compare-and-set delete (as `kv.delete` with `previousSeq`): leaves a delete marker. */
  deleteAt(key: string, revision: number): Promise<number | undefined> {
    return this.writeAt(key, EMPTY, revision, true);
  }

  private async writeAt(key: string, data: Uint8Array, revision: number, del = false): Promise<number | undefined> {
    let hdrs = EXPECT_NEW;
    if (revision !== 0 || del) {
      hdrs = headers();
      hdrs.set('Nats-Expected-Last-Subject-Sequence', String(revision));
      if (del) hdrs.set('KV-Operation', 'DEL');
    }
    try {
      return await this.write(key, data, hdrs);
    } catch (e) {
      if (e instanceof KvWriteError && e.apiError?.err_code === WRONG_LAST_SEQUENCE) return undefined;
      throw e;
    }
  }

  private write(key: string, data: Uint8Array, hdrs?: MsgHdrs): Promise<number> {
    if (!KEY_RE.test(key)) return Promise.reject(new TypeError(`invalid KV key ${JSON.stringify(key)}`));
    const token = String(++this.next);
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        reject(new KvWriteError(`JetStream did not acknowledge ${key} in bucket ${this.bucket} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting.set(token, { resolve, reject, timer });
      try {
        this.nc.publish(`$KV.${this.bucket}.${key}`, data, { reply: `${this.inbox}.${token}`, headers: hdrs });
      } catch (e) {
        clearTimeout(timer);
        this.waiting.delete(token);
        reject(e as Error);
      }
    });
  }

  private failAll(why: string): void {
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new KvWriteError(why));
    }
    this.waiting.clear();
  }

  /** A PubAck `{stream, seq}`, a JetStream error `{error}`, or a no-responders status. */
  private settle(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const w = this.waiting.get(token);
    if (!w) return; // timed out already
    this.waiting.delete(token);
    clearTimeout(w.timer);
    if (msg.headers?.hasError) {
      // 503: no stream listens on the bucket's subjects
      const why = msg.headers.description || (msg.headers.code === 503 ? 'no responders' : 'error');
      w.reject(new KvWriteError(`JetStream refused the write to bucket ${this.bucket}: ${msg.headers.code} ${why}`));
      return;
    }
    let ack: PubAck | null = null;
    try {
      ack = JSON.parse(dec.decode(msg.data)) as PubAck | null;
    } catch {
      // reported below
    }
    if (ack?.error) w.reject(new KvWriteError(ack.error.description ?? 'JetStream error', ack.error));
    else if (typeof ack?.seq === 'number') w.resolve(ack.seq);
    else w.reject(new KvWriteError(`invalid JetStream acknowledgement from bucket ${this.bucket}`));
  }
}
