/**
 * JetStream writes and direct reads on a hot path, as plain NATS messages that share one
 * reply subscription: a write is a publish that waits for the server's PubAck, which the
 * server sends only once it has stored the message, exactly as nats.js's `js.publish`
 * waits; a read is a direct get (`$JS.API.DIRECT.GET.<stream>…`), answered with the stored
 * message itself.
 *
 * Why not nats.js's own calls: every nats.js request builds three Error objects with stack
 * traces (an async-trace context, a ready-made timeout error, and a "cancelled" error even
 * on success) plus layers of option handling. Measured here: a KV read cost its client
 * 260-440 µs of CPU through `kv.get` and 130 µs this way. Users: kv-client.ts (the Agent
 * Home's KV buckets) and the audit log.
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection } from 'nats';

/** JetStream's description of a refused write (`api_error` / `error` as the server sent it). */
export type ApiError = { code?: number; err_code?: number; description?: string };

/**
 * A write JetStream refused (`apiError` set), or a write or read it did not answer. Without
 * `apiError` it is worth another try (agents/transport/retry.ts).
 */
export class JetStreamError extends Error {
  constructor(
    message: string,
    readonly apiError?: ApiError,
  ) {
    super(message);
    this.name = 'JetStreamError';
  }
}

/** A stored write: its stream sequence, and whether the server had it already (same message id). */
export interface PubAck {
  seq: number;
  duplicate: boolean;
}

/** A PubAck as the server sends it (a refusal carries `error` instead). */
type RawPubAck = { stream?: string; seq?: unknown; duplicate?: unknown; error?: ApiError };

interface Waiter {
  /** a write waits for a PubAck, a read for the message itself */
  read: boolean;
  resolve(v: PubAck | Msg): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

const dec = new TextDecoder();
const EMPTY = new Uint8Array(0);

/**
 * The connection's reply-subject prefix (nats.js `inboxPrefix`, which a secured broker may
 * impose); nats.js's connection exposes its options, though its interface type does not.
 */
function inboxPrefixOf(nc: NatsConnection): string | undefined {
  return (nc as NatsConnection & { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
}

export class JetStreamReplies {
  private readonly inbox: string;
  private readonly waiting = new Map<string, Waiter>();
  private next = 0;

  /** `what`: what the messages go to, for error messages ("bucket parley_sessions") */
  constructor(
    private readonly nc: NatsConnection,
    private readonly what: string,
    private readonly timeoutMs = 5000,
  ) {
    this.inbox = createInbox(inboxPrefixOf(nc));
    nc.subscribe(`${this.inbox}.*`, { callback: (_err, msg) => this.settle(msg) });
    void nc.closed().then(() => this.failAll(`the connection closed before JetStream answered for ${this.what}`));
  }

  /** Publishes `data` to a stream's subject; resolves with the PubAck once it is stored. */
  publish(subject: string, data: Uint8Array, hdrs?: MsgHdrs): Promise<PubAck> {
    return this.request(subject, data, hdrs, false) as Promise<PubAck>;
  }

  /** Sends a direct get; resolves with the reply (the stored message, or a status such as 404). */
  directGet(subject: string): Promise<Msg> {
    return this.request(subject, EMPTY, undefined, true) as Promise<Msg>;
  }

  private request(subject: string, data: Uint8Array, hdrs: MsgHdrs | undefined, read: boolean): Promise<PubAck | Msg> {
    const token = String(++this.next);
    return new Promise<PubAck | Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        reject(new JetStreamError(`JetStream did not answer for ${subject} (${this.what}) within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting.set(token, { read, resolve, reject, timer });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: hdrs });
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
      w.reject(new JetStreamError(why));
    }
    this.waiting.clear();
  }

  /** A PubAck `{stream, seq, duplicate?}`, a JetStream error `{error}`, a no-responders status, or a read's reply. */
  private settle(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const w = this.waiting.get(token);
    if (!w) return; // timed out already
    this.waiting.delete(token);
    clearTimeout(w.timer);
    if (w.read) return w.resolve(msg);
    if (msg.headers?.hasError) {
      // 503: no stream listens on the subject
      const why = msg.headers.description || (msg.headers.code === 503 ? 'no responders' : 'error');
      w.reject(new JetStreamError(`JetStream refused the write to ${this.what}: ${msg.headers.code} ${why}`));
      return;
    }
    let ack: RawPubAck | null = null;
    try {
      ack = JSON.parse(dec.decode(msg.data)) as RawPubAck | null;
    } catch {
      // reported below
    }
    if (ack?.error) w.reject(new JetStreamError(ack.error.description ?? 'JetStream error', ack.error));
    else if (typeof ack?.seq === 'number') w.resolve({ seq: ack.seq, duplicate: ack.duplicate === true });
    else w.reject(new JetStreamError(`invalid JetStream acknowledgement from ${this.what}`));
  }
}
