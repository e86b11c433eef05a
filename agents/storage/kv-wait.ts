/**
 * Waiting for a JetStream KV record to reach some condition without polling: the owner of a
 * watch of the bucket hands every change to `offer`, and any number of waiters are keyed by
 * record. A waiter is registered before the record is read, so an update that lands between
 * the read and the wait is never missed.
 *
 *   const rec = await waits.until(key, (r) => r.value.status !== 'open', 20_000, () => read(key));
 */

export interface Revisioned<T> {
  value: T;
  revision: number;
}

interface Waiter<T> {
  done: (r: Revisioned<T>) => boolean;
  settle: (r: Revisioned<T> | undefined) => void;
}

export class KvWaits<T> {
  private readonly waiters = new Map<string, Set<Waiter<T>>>();

  /** A change of `key` seen by the watch: wakes the waiters it satisfies. */
  offer(key: string, rec: Revisioned<T>): void {
    const set = this.waiters.get(key);
    if (set) for (const waiter of set) if (waiter.done(rec)) waiter.settle(rec);
  }

  /** Number of requests currently held (tests, metrics). */
  get held(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }

  /**
   * The record under `key` once `done` holds for it, or the latest one read when `ms` pass
   * first. `read` fetches the current record (after the waiter is in place). The record is
   * also read again every `recheckMs`: a watch whose server died (a cluster node lost) may
   * stay silent until its consumer is recreated, and a held request must not depend on it.
   */
  async until(key: string, done: (r: Revisioned<T>) => boolean, ms: number, read: () => Promise<Revisioned<T> | undefined>, recheckMs = 2000): Promise<Revisioned<T> | undefined> {
    let wake!: (r: Revisioned<T> | undefined) => void;
    let stopped = false;
    let latest: Revisioned<T> | undefined;
    const waiter: Waiter<T> = {
      // an update older than what was read cannot satisfy the waiter
      done: (r) => (!latest || r.revision > latest.revision) && done(r),
      settle: (r) => {
        if (!r) stopped = true;
        wake(r);
      },
    };
    let set = this.waiters.get(key);
    if (!set) this.waiters.set(key, (set = new Set()));
    set.add(waiter);
    const end = Date.now() + Math.max(0, ms);
    try {
      for (;;) {
        const woken = new Promise<Revisioned<T> | undefined>((resolve) => (wake = resolve));
        const fresh = await read();
        if (!fresh || !latest || fresh.revision >= latest.revision) latest = fresh;
        if (!latest || done(latest) || stopped || Date.now() >= end) return latest;
        let timer: NodeJS.Timeout | undefined;
        const r = await Promise.race([woken, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.min(recheckMs, end - Date.now()))))]);
        clearTimeout(timer);
        if (r && r.revision > latest.revision) return r;
        if (stopped) return latest;
      }
    } finally {
      set.delete(waiter);
      if (!set.size) this.waiters.delete(key);
    }
  }

  /** Every held wait is answered at once with what it has read. */
  stop(): void {
    for (const set of this.waiters.values()) for (const w of set) w.settle(undefined);
  }
}
