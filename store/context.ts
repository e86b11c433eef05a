/**
 * What every part of the store daemon works with, and the small tools they share: a
 * request/reply helper that turns NATS failures into coded errors, an abortable sleep for
 * retry loops, and a per-key lock that serialises the updates of one record.
 */
import type { NatsConnection } from 'nats';
import type { z } from 'zod';
import type { Self, Trust } from '../agents/runtime/trust.js';
import type { ParsedCertificate } from '../crypto/x509/index.js';
import { isParleyError, parleyError, type ErrorCode } from '../protocol/errors.js';
import { decodeReply, encodeJson } from '../protocol/wire.js';
import type { StoreConfig } from './config.js';
import type { StoreFiles } from './files.js';

export interface StoreContext {
  nc: NatsConnection;
  config: StoreConfig;
  self: Self;
  trust: Trust;
  ca: ParsedCertificate;
  files: StoreFiles;
  /** aborted when the daemon stops: retry loops end, sleeps wake up */
  stopping: AbortSignal;
  log(line: string): void;
}

/** Failures worth retrying: the peer was not there or did not answer, or hit a transient state. */
export const TRANSIENT_CODES: ReadonlySet<string> = new Set<ErrorCode>(['ERR_TIMEOUT', 'ERR_UNAVAILABLE', 'ERR_INTERNAL', 'ERR_CONFLICT', 'ERR_NATS_CONNECT']);

export function codeOf(err: unknown): string {
  return isParleyError(err) ? err.code : 'ERR_INTERNAL';
}

/** Sends `message` as JSON and decodes the reply body with `schema`; peer errors are rethrown with their code. */
export async function requestJson<S extends z.ZodType>(nc: NatsConnection, subject: string, message: unknown, schema: S, timeoutMs: number, what: string): Promise<z.infer<S>> {
  let data: Uint8Array;
  try {
    data = (await nc.request(subject, encodeJson(message), { timeout: timeoutMs })).data;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === '503') throw parleyError('ERR_UNAVAILABLE', `nobody answers ${what}`, err);
    if (code === 'TIMEOUT') throw parleyError('ERR_TIMEOUT', `${what}: no answer within ${timeoutMs} ms`, err);
    throw parleyError('ERR_UNAVAILABLE', `${what}: ${(err as Error).message}`, err);
  }
  return decodeReply(schema, data, what);
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
