/**
 * JetStream writes and direct reads on a hot path, as plain requests (transport/requests.ts):
 * a write is a publish that waits for the server's PubAck, which the server sends only once
 * it has stored the message, exactly as nats.js's `js.publish` waits; a read is a direct get
 * (`$JS.API.DIRECT.GET.<stream>…`), answered with the stored message itself.
 *
 * Why not nats.js's own calls: besides the cost of its `request` (see requests.ts), layers
 * of option handling. Measured here: a KV read cost its client 260-440 µs of CPU through
 * `kv.get` and 130 µs this way. Users: kv-client.ts (the Agent Home's KV buckets) and the
 * audit log.
 */
import type { Msg, MsgHdrs, NatsConnection } from 'nats';
import { replyStatus, RequestError, Requests, NO_RESPONDERS } from '../transport/requests.js';

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

const dec = new TextDecoder();
const EMPTY = new Uint8Array(0);

export class JetStreamReplies {
  private readonly requests: Requests;

  /** `what`: what the messages go to, for error messages ("bucket parley_sessions") */
  constructor(
    nc: NatsConnection,
    private readonly what: string,
    private readonly timeoutMs = 5000,
  ) {
    this.requests = Requests.for(nc);
  }

  /** Publishes `data` to a stream's subject; resolves with the PubAck once it is stored. */
  async publish(subject: string, data: Uint8Array, hdrs?: MsgHdrs): Promise<PubAck> {
    return this.pubAck(await this.send(subject, data, hdrs));
  }

  /** Sends a direct get; resolves with the reply (the stored message, or a status such as 404). */
  directGet(subject: string): Promise<Msg> {
    return this.send(subject, EMPTY);
  }

  private async send(subject: string, data: Uint8Array, hdrs?: MsgHdrs): Promise<Msg> {
    try {
      return await this.requests.request(subject, data, this.timeoutMs, hdrs);
    } catch (e) {
      // no answer in time, or the connection closed while waiting: worth another try
      // (agents/transport/retry.ts); a publish refused (by nats.js or the server) is its own error
      if (e instanceof RequestError && e.reason !== 'refused') throw new JetStreamError(`JetStream did not answer for ${subject} (${this.what}): ${e.message}`);
      throw e;
    }
  }

  /** A PubAck `{stream, seq, duplicate?}`, a JetStream error `{error}`, or a status such as no-responders. */
  private pubAck(msg: Msg): PubAck {
    const status = replyStatus(msg);
    if (status) {
      // 503: no stream listens on the subject
      const why = status.description || (status.code === NO_RESPONDERS ? 'no responders' : 'error');
      throw new JetStreamError(`JetStream refused the write to ${this.what}: ${status.code} ${why}`);
    }
    let ack: RawPubAck | null = null;
    try {
      ack = JSON.parse(dec.decode(msg.data)) as RawPubAck | null;
    } catch {
      // reported below
    }
    if (ack?.error) throw new JetStreamError(ack.error.description ?? 'JetStream error', ack.error);
    if (typeof ack?.seq === 'number') return { seq: ack.seq, duplicate: ack.duplicate === true };
    throw new JetStreamError(`invalid JetStream acknowledgement from ${this.what}`);
  }
}
