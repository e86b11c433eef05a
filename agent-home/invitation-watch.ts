/**
 * Keeps invitation work from being lost with the process doing it. Every Agent Home process
 * follows the sessions bucket (its watch hands each record to `onSession`; the open sessions
 * with invitation work left are kept in memory) and resumes (invitations.ts `resumeSession`):
 *   - at start, all of that work, as a restarted process must;
 *   - then every third of a lease, the work nobody has done for a whole lease, which is the
 *     work of a process that died (the process doing it finishes within moments).
 * Resuming is idempotent and its claims are compare-and-set, so two processes that resume
 * the same session at once still invite each merchant once.
 */
import type { HomeContext } from './context.js';
import type { SessionRecord } from './state.js';
import { invitationWorkLeft, resumeSession, staleInvitationWork } from './invitations.js';

export class InvitationWatch {
  /** open sessions with invitation work left, as last written */
  private readonly sessions = new Map<string, SessionRecord>();
  /** sessions being resumed by this process */
  private readonly busy = new Set<string>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly ctx: HomeContext,
    private readonly staleMs: number,
  ) {}

  /**
   * Once the watch has handed over every existing record: resumes all the work found, then
   * every third of a lease the stale work; settles with what was done at start.
   */
  start(): Promise<number> {
    const resumed = this.resume(0);
    const every = () => {
      if (this.stopped) return;
      this.timer = setInterval(() => void this.resume(this.staleMs).catch((err) => this.ctx.log(`resuming invitations failed: ${(err as Error).message}`)), Math.max(50, Math.round(this.staleMs / 3)));
      this.timer.unref();
    };
    void resumed.then(every, every);
    return resumed;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.allSettled([...this.inFlight]);
  }

  /** A session record as written (undefined: deleted). */
  onSession(sn: string, s: SessionRecord | undefined): void {
    if (s && invitationWorkLeft(s)) this.sessions.set(sn, s);
    else this.sessions.delete(sn);
  }

  /** Resumes each session whose work has been left for `staleMs`; the number of things done. */
  private async resume(staleMs: number): Promise<number> {
    const now = Date.now();
    const due: string[] = [];
    for (const [sn, s] of this.sessions) {
      if (!invitationWorkLeft(s, now)) this.sessions.delete(sn);
      else if (!this.busy.has(sn) && staleInvitationWork(s, (id) => this.ctx.tracker.known(id), staleMs, now)) due.push(sn);
    }
    let acted = 0;
    const runs = due.map((sn) => {
      this.busy.add(sn);
      const run = resumeSession(this.ctx, sn, staleMs)
        .then(
          (n) => {
            acted += n;
          },
          (err) => this.ctx.log(`session ${sn}: resuming its invitations failed: ${(err as Error).message}`),
        )
        .finally(() => {
          this.busy.delete(sn);
          this.inFlight.delete(run);
        });
      this.inFlight.add(run);
      return run;
    });
    await Promise.all(runs);
    return acted;
  }
}
