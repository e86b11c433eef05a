/**
 * Bounded exponential backoff for NATS and JetStream calls that can fail transiently (no
 * answer in time, no responder for a moment, a reconnect in progress, JetStream briefly
 * unavailable). Anything else — a protocol error, a refused write, a failed
 * compare-and-set — is not retried here: it is thrown at once, for the caller to handle.
 *
 *   const v = await retry(() => kv.get(key), { attempts: 5 });
 *
 * Delays: first, 2·first, 4·first … capped at `maxDelayMs`, each scaled by a random factor
 * in [0.5, 1] so that several processes retrying together do not stay in step.
 */
import { isParleyError } from '../../protocol/errors.js';

export interface RetryOptions {
  /**
   * tries in all, the first included (default 10: with the default delays about 5–9 s of
   * retrying, enough to ride out a JetStream leader election when a cluster node dies)
   */
  attempts?: number;
  /** delay before the second try (default 50 ms) */
  firstDelayMs?: number;
  /** longest delay between tries (default 2000 ms) */
  maxDelayMs?: number;
  /** stop retrying (the last error is thrown) once this is aborted */
  signal?: AbortSignal;
  /** which failures are worth another try (default `isTransient`) */
  transient?: (err: unknown) => boolean;
  /** called before each new try (logs) */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** nats.js error codes of failures that may go away by themselves. */
const TRANSIENT_NATS_CODES = new Set(['TIMEOUT', '503', '408', 'DISCONNECT', 'CONNECTION_REFUSED', 'CONNECTION_TIMEOUT']);
/** Parley codes of the same failures (agents/transport/rpc.ts maps them so). */
const TRANSIENT_PARLEY_CODES = new Set(['ERR_TIMEOUT', 'ERR_UNAVAILABLE', 'ERR_NATS_CONNECT']);

/** True for failures of the transport or of JetStream's availability, never for a refusal. */
export function isTransient(err: unknown): boolean {
  if (isParleyError(err)) return TRANSIENT_PARLEY_CODES.has(err.code);
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; name?: unknown; apiError?: { code?: number }; api_error?: { code?: number } };
  // a JetStream API answer: only server-side unavailability (5xx) may pass
  const api = e.api_error ?? e.apiError;
  if (api) return typeof api.code === 'number' && api.code >= 500;
  // a JetStream write or read that was not answered in time (agents/storage/js-replies.ts)
  if (e.name === 'JetStreamError') return true;
  return typeof e.code === 'string' && TRANSIENT_NATS_CODES.has(e.code);
}

/** The delay before try `attempt + 1` (attempt counts from 1). */
export function backoffDelay(attempt: number, firstDelayMs = 50, maxDelayMs = 2000): number {
  const base = Math.min(maxDelayMs, firstDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.5 + Math.random() / 2));
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 10);
  const transient = opts.transient ?? isTransient;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || !transient(err) || opts.signal?.aborted) throw err;
      const delay = backoffDelay(attempt, opts.firstDelayMs, opts.maxDelayMs);
      opts.onRetry?.(err, attempt, delay);
      await sleepUnlessAborted(delay, opts.signal);
    }
  }
}

function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
