/**
 * Keeps invitation work from being lost with the process doing it. Every Agent Home process
 * watches the sessions bucket (the records of open sessions with invitation work left, kept
 * in memory) and resumes (invitations.ts `resumeSession`):
 *   - at start, all of that work, as a restarted process must;
 *   - then every third of a lease, the work nobody has done for a whole lease, which is the
 *     work of a process that died (the process doing it finishes within moments).
 * Resuming is idempotent and its claims are compare-and-set, so two processes that resume
 * the same session at once still invite each merchant once.
 */
import type { KvEntry } from 'nats';
import { watchEntries } from '../agents/storage/kv.js';
import type { HomeContext } from './context.js';
import type { SessionRecord } from './state.js';
import { invitationWorkLeft, resumeSession, staleInvitationWork } from './invitations.js';

const dec = new TextDecoder();

export class InvitationWatch {
  /** open sessions with invitation work left, as last written */
  private readonly sessions = new Map<string, SessionRecord>();
  /** sessions being resumed by this process */
  private readonly busy = new Set<string>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopWatch?: () => void;
  private timer?: NodeJS.Timeout;

  private constructor(
    private readonly ctx: HomeContext,
    private readonly staleMs: number,
  ) {}

  /** Starts watching; `resumed` settles once the work found at start is done. */
  static async start(ctx: HomeContext, staleMs: number): Promise<{ watch: InvitationWatch; resumed: Promise<number> }> {
    const w = new InvitationWatch(ctx, staleMs);
    w.stopWatch = await watchEntries(ctx.state.sessions, (e) => w.onSession(e), { onError: (err) => ctx.log(`watching sessions: ${(err as Error).message}`) });
    const resumed = w.resume(0);
    const every = () => {
      if (!w.stopWatch) return;
      w.timer = setInterval(() => void w.resume(w.staleMs).catch((err) => ctx.log(`resuming invitations failed: ${(err as Error).message}`)), Math.max(50, Math.round(staleMs / 3)));
      w.timer.unref();
    };
    void resumed.then(every, every);
    return { watch: w, resumed };
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopWatch?.();
    this.stopWatch = undefined;
    await Promise.allSettled([...this.inFlight]);
  }

  private onSession(e: KvEntry): void {
    if (e.operation !== 'PUT') return void this.sessions.delete(e.key);
    const s = JSON.parse(dec.decode(e.value)) as SessionRecord;
    if (invitationWorkLeft(s)) this.sessions.set(e.key, s);
    else this.sessions.delete(e.key);
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
