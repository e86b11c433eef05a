/**
 * JetStream KV helpers: watches, and compare-and-set updates of JSON records (reads and
 * writes go through kv-client.ts).
 *
 * No key listing: nats.js's `kv.keys()` iterator ends early when its consumer awaits other
 * KV calls between items, repeats keys written while it runs, and can hang while the bucket
 * is written to (seen with nats 2.29). Code that must see every record keeps a watch
 * (`watchEntries`) instead; agent-home/state.ts lists a bucket's keys from its
 * stream's subjects.
 */
import type { KV, KvEntry } from 'nats';
import type { KvClient } from './kv-client.js';
import { parleyError } from '../../protocol/errors.js';

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

interface QueuedUpdate {
  fn: (current: never) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * Compare-and-set updates of one bucket's JSON records: `fn` is applied to the current
 * value and the result written only if no one else wrote in between (else the record is
 * read again and `fn` applied again); `fn` returning undefined leaves the record as it is.
 *
 * Updates are queued per key in this process: those that come while one is being written
 * go together into the next write, in the order they came. Ten concurrent updates of one
 * record so cost one or two writes, instead of up to fifty-five attempts (each refused one
 * read again) when every update races the others; the races grew with load, and so did
 * the work. The last value written and its revision are remembered (for the `remember`
 * keys updated last), and the next update starts from them without a read; when another
 * process has written since, the write is refused and the record read again.
 *
 * Each `fn` must be idempotent and leave its argument unchanged. Each caller gets what its
 * own `fn` returned (undefined: no change), as if the updates had run one after another;
 * a `fn` that throws fails only its own update.
 */
export class KvUpdater {
  private readonly queues = new Map<string, QueuedUpdate[]>();
  private readonly known = new Map<string, { value: unknown; revision: number }>();

  constructor(
    private readonly kv: KvClient,
    private readonly remember = 512,
    private readonly attempts = 20,
  ) {}

  /**
   * The value this updater last wrote to `key`, if it still remembers it: a hint that saves a
   * read, for fields that never change or when an outdated copy is checked again.
   */
  recent<T>(key: string): T | undefined {
    return this.known.get(key)?.value as T | undefined;
  }

  update<T>(key: string, fn: (current: T) => T | undefined): Promise<T | undefined> {
    return new Promise<T | undefined>((resolve, reject) => {
      const item: QueuedUpdate = { fn: fn as (current: never) => unknown, resolve: resolve as (v: unknown) => void, reject };
      const q = this.queues.get(key);
      if (q) return void q.push(item);
      this.queues.set(key, [item]);
      void this.drain(key);
    });
  }

  private async drain(key: string): Promise<void> {
    const q = this.queues.get(key)!;
    while (q.length) {
      const batch = q.splice(0);
      try {
        const results = await this.apply(key, batch);
        batch.forEach((b, i) => {
          const r = results[i]!;
          if ('error' in r) b.reject(r.error);
          else b.resolve(r.value);
        });
      } catch (e) {
        for (const b of batch) b.reject(e);
      }
    }
    this.queues.delete(key);
  }

  private async apply(key: string, batch: QueuedUpdate[]): Promise<Array<{ value: unknown } | { error: unknown }>> {
    let cur: { value: unknown; revision: number } | undefined = this.known.get(key);
    let fresh = false;
    for (let i = 0; i < this.attempts; i++) {
      if (!cur) {
        cur = await this.kv.getJson<unknown>(key);
        fresh = true;
        if (!cur) return batch.map(() => ({ value: undefined }));
      }
      let value = cur.value;
      let changed = false;
      const results = batch.map((b) => {
        try {
          const next = b.fn(value as never);
          if (next === undefined) return { value: undefined };
          value = next;
          changed = true;
          return { value: next };
        } catch (error) {
          return { error };
        }
      });
      if (!changed) {
        // "nothing to change" is only believed of a value just read
        if (fresh) return results;
        cur = undefined;
        continue;
      }
      this.known.delete(key);
      // undefined: someone else wrote first (anything else is thrown, for the caller to retry)
      const revision = await this.kv.updateJson(key, value, cur.revision);
      if (revision === undefined) {
        cur = undefined;
        continue;
      }
      this.known.set(key, { value, revision });
      if (this.known.size > this.remember) this.known.delete(this.known.keys().next().value!);
      return results;
    }
    throw parleyError('ERR_CONFLICT', `record ${key} kept changing; gave up after ${this.attempts} attempts`);
  }
}
