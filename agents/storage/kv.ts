/**
 * Small JetStream KV helpers used by every durable record: JSON values, watches and
 * compare-and-set updates.
 *
 * No key listing: nats.js's `kv.keys()` iterator ends early when its consumer awaits other
 * KV calls between items, repeats keys written while it runs, and can hang while the bucket
 * is written to (seen with nats 2.29). Code that must see every record keeps a watch
 * (`watchEntries`, `watchJson`) instead; agent-home/state.ts lists a bucket's keys from its
 * stream's subjects.
 */
import type { KV, KvEntry, NatsError } from 'nats';
import { parleyError } from '../../protocol/errors.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
/**
 * JetStream's error code for a failed expected-last-sequence check (`Nats-Expected-Last-
 * Subject-Sequence` or `Nats-Expected-Last-Sequence`): someone else wrote first.
 */
export const WRONG_LAST_SEQUENCE = 10071;

export interface WatchOptions {
  /** only the keys this matches */
  filter?: string;
  /** entries without their values (key, revision, time and operation only) */
  headersOnly?: boolean;
  /** every entry written from this revision on (superseded ones excepted), instead of each key's current one */
  fromRevision?: number;
  /** give up (ERR_TIMEOUT) when the current entries are not all in by then */
  initTimeoutMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * Calls `onEntry` with every current entry of the bucket (or of the keys `filter` matches),
 * then with every change as it happens, in the order JetStream stored them. Resolves once
 * every current entry has been passed. Returns a stopper.
 */
export async function watchEntries(kv: KV, onEntry: (e: KvEntry) => void, opts: WatchOptions = {}): Promise<() => void> {
  let ready!: () => void;
  const initialised = new Promise<void>((r) => (ready = r));
  const w = await kv.watch({
    key: opts.filter,
    headers_only: opts.headersOnly ?? false,
    ...(opts.fromRevision ? { resumeFromRevision: opts.fromRevision } : {}),
    initializedFn: () => ready(),
  });
  void (async () => {
    for await (const e of w) {
      try {
        onEntry(e);
      } catch (err) {
        opts.onError?.(err);
      }
    }
  })().catch((err: unknown) => opts.onError?.(err));
  if (opts.initTimeoutMs) {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(parleyError('ERR_TIMEOUT', `a KV watch did not catch up within ${opts.initTimeoutMs} ms`)), opts.initTimeoutMs);
    });
    try {
      await Promise.race([initialised, late]);
    } catch (err) {
      w.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  } else await initialised;
  // nats.js calls `initializedFn` in turn with the entries, or at once when they were all
  // queued before `watch` returned: the loop above awaits nothing but the iterator, so one
  // macrotask later it has passed every queued entry either way
  await new Promise((r) => setImmediate(r));
  return () => w.stop();
}

/**
 * Keeps `view` equal to the bucket's current JSON records: every existing value first, then
 * every change as it happens. Resolves once the initial values are in. Returns a stopper.
 */
export function watchJson<T>(kv: KV, view: Map<string, T>, filter?: string): Promise<() => void> {
  return watchEntries(
    kv,
    (e) => {
      if (e.operation === 'PUT') {
        try {
          view.set(e.key, JSON.parse(dec.decode(e.value)) as T);
        } catch {
          view.delete(e.key);
        }
      } else view.delete(e.key);
    },
    { filter },
  );
}

export async function getJson<T>(kv: KV, key: string): Promise<{ value: T; revision: number } | undefined> {
  const e = await kv.get(key);
  if (!e || e.operation !== 'PUT') return undefined;
  return { value: JSON.parse(dec.decode(e.value)) as T, revision: e.revision };
}

export async function putJson(kv: KV, key: string, value: unknown): Promise<number> {
  return kv.put(key, enc.encode(JSON.stringify(value)));
}

/** Creates `key` only if absent; false when it exists. */
export async function createJson(kv: KV, key: string, value: unknown): Promise<boolean> {
  try {
    await kv.create(key, enc.encode(JSON.stringify(value)));
    return true;
  } catch (e) {
    if (await kv.get(key)) return false;
    throw e;
  }
}

/**
 * Compare-and-set: applies `fn` to the current value and writes the result only if no one
 * else wrote in between, retrying on conflict. `fn` returning undefined leaves the record
 * as it is. Returns the value written (or undefined when nothing was).
 */
export async function updateJson<T>(kv: KV, key: string, fn: (current: T) => T | undefined, attempts = 20): Promise<T | undefined> {
  for (let i = 0; i < attempts; i++) {
    const cur = await getJson<T>(kv, key);
    if (!cur) return undefined;
    const next = fn(cur.value);
    if (next === undefined) return undefined;
    try {
      await kv.update(key, enc.encode(JSON.stringify(next)), cur.revision);
      return next;
    } catch (e) {
      // someone else wrote first: read again. Anything else (JetStream unavailable for a
      // moment, no answer) is the caller's to retry with a backoff, not a conflict
      if ((e as NatsError).api_error?.err_code !== WRONG_LAST_SEQUENCE) throw e;
    }
  }
  throw parleyError('ERR_CONFLICT', `record ${key} kept changing; gave up after ${attempts} attempts`);
}
