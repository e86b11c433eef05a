/**
 * What every part of the store daemon works with, and the small tools they share: an
 * abortable sleep for retry loops and a per-key lock that serialises the updates of one
 * record. (Request/reply with coded errors is agents/transport/rpc.ts.)
 */
import type { NatsConnection } from 'nats';
import type { Self, Trust } from '../agents/runtime/trust.js';
import type { ParsedCertificate } from '../crypto/x509/index.js';
import { isParleyError, type ErrorCode } from '../protocol/errors.js';
import type { StoreConfig } from './config.js';
import type { StoreFiles } from './files.js';
import type { OfferBook } from './offer-book.js';
import type { ReplayGuard } from './replay-guard.js';

export interface StoreContext {
  nc: NatsConnection;
  config: StoreConfig;
  self: Self;
  trust: Trust;
  ca: ParsedCertificate;
  files: StoreFiles;
  offers: OfferBook;
  seen: ReplayGuard;
  /** aborted when the daemon stops: retry loops end, sleeps wake up */
  stopping: AbortSignal;
  log(line: string): void;
}

/** Failures worth retrying: the peer was not there or did not answer, or hit a transient state. */
export const TRANSIENT_CODES: ReadonlySet<string> = new Set<ErrorCode>(['ERR_TIMEOUT', 'ERR_UNAVAILABLE', 'ERR_INTERNAL', 'ERR_CONFLICT', 'ERR_NATS_CONNECT']);

export function codeOf(err: unknown): string {
  return isParleyError(err) ? err.code : 'ERR_INTERNAL';
}

/** Resolves after `ms`, or at once when `signal` is aborted. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs functions one at a time per key (in this process). */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T> | T): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(() => fn());
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}
