/**
 * Work leases: which instance of a host (one of several processes sharing a JetStream host
 * store) works on an accepted agent, and until when.
 *
 * - The instance that stored an arrival owns its work from the moment it stored it, until
 *   the arrival's time + the lease, without writing anything more (the migration hot path
 *   stays one write).
 * - Every state the owner writes names it and moves its lease on; while the work runs long,
 *   the owner renews by writing the same state again, well before the lease runs out.
 * - Each write is compare-and-set against the revision the owner itself wrote last: once
 *   another instance has taken the work over, the old owner's next write fails, and it
 *   abandons the work (ERR_CONFLICT) instead of overwriting the new owner's progress.
 * - Another instance takes work over once it has not been written for a lease (the owner
 *   died), by the same kind of write (only one wins), and resumes it as a restarted process
 *   would. Work whose handler keeps failing is so retried once a lease until its agent
 *   expires, and then dropped.
 *
 * Times are wall-clock milliseconds compared across processes (a write's time is the
 * JetStream server's), so the machines' clocks must agree to well within a lease.
 */
import { parleyError } from '../../protocol/errors.js';
import type { HostStore, PendingWork, StoredState, WorkState } from './host-store.js';

export const DEFAULT_LEASE_MS = 15_000;

/** When the lease on `p` runs out, unless its owner writes again: a lease after the last write. */
export function leaseExpiry(p: PendingWork, leaseMs: number): number {
  return p.writtenAt + leaseMs;
}

export class WorkLease {
  private chain: Promise<unknown> = Promise.resolve();
  /** set once a write found that another instance wrote in between */
  lost = false;

  private constructor(
    private readonly store: HostStore,
    readonly key: string,
    private readonly owner: string,
    private readonly leaseMs: number,
    /** the last state written (renewals write it again) and its revision */
    private state: WorkState,
    private revision: number,
    /** until when the work is ours, by this process's clock */
    private until: number,
  ) {}

  /** The lease of work this instance has just stored, from the time it began to store it. */
  static fresh(store: HostStore, key: string, owner: string, leaseMs: number, acceptedAt: number): WorkLease {
    return new WorkLease(store, key, owner, leaseMs, { phase: 'accepted' }, 0, acceptedAt + leaseMs);
  }

  /** The lease of pending work found at start in a store only this process uses: nothing to claim. */
  static resumed(store: HostStore, key: string, cur: StoredState, owner: string, leaseMs: number): WorkLease {
    return new WorkLease(store, key, owner, leaseMs, cur.state, cur.revision, Date.now() + leaseMs);
  }

  /**
   * Takes `p` over: reads its state and, if nobody wrote it since `p` was seen, writes it
   * back as this instance's (only one instance can). Undefined when it is not to be taken.
   */
  static async claim(store: HostStore, p: PendingWork, owner: string, leaseMs: number): Promise<{ lease: WorkLease; from?: string } | undefined> {
    const cur = await store.state(p.key);
    // done, or written since it was seen (its owner renewed, or someone took it over)
    if (!cur || cur.state.phase === 'done' || cur.revision !== p.revision) return undefined;
    const state: WorkState = { ...cur.state, takeovers: (cur.state.takeovers ?? 0) + 1 };
    const lease = new WorkLease(store, p.key, owner, leaseMs, state, cur.revision, 0);
    try {
      await lease.write(state);
      return { lease, from: cur.state.owner };
    } catch (err) {
      if (lease.lost) return undefined;
      throw err;
    }
  }

  /** The state the work is in, as last written (or claimed). */
  get current(): WorkState {
    return this.state;
  }

  /** True once a third of the lease has passed since it was last moved on. */
  get due(): boolean {
    return !this.lost && Date.now() >= this.until - (2 * this.leaseMs) / 3;
  }

  /**
   * Stores `state`, moving the lease on. Throws ERR_CONFLICT when another instance has
   * taken the work over (then nothing is written, now or later).
   */
  write(state: WorkState): Promise<void> {
    const run = this.chain.then(() => this.writeNow(state));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Writes the current state again if the lease is due for renewal. */
  renew(): Promise<void> {
    const run = this.chain.then(() => (this.due ? this.writeNow(this.state) : undefined));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async writeNow(state: WorkState): Promise<void> {
    if (this.lost) throw this.lostError();
    // measured before the write, so this process never thinks it holds longer than others see
    const now = Date.now();
    const takeovers = this.state.takeovers;
    const next: WorkState = { ...state, owner: this.owner, leaseUntil: now + this.leaseMs, ...(takeovers ? { takeovers } : {}) };
    const rev = await this.store.setState(this.key, next, this.revision);
    if (rev === undefined) {
      this.lost = true;
      throw this.lostError();
    }
    this.state = next;
    this.revision = rev;
    this.until = now + this.leaseMs;
  }

  private lostError() {
    return parleyError('ERR_CONFLICT', `the work on agent ${this.key} was taken over by another instance; abandoned here`);
  }
}
