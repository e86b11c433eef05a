/**
 * The request ids a store has acted on, and the reply it gave, so that an id is acted on
 * once and a replay gets the same reply: `seen/journal.jsonl`, a journal
 * (agents/storage/journal.ts) whose records are also kept in memory. A request that
 * succeeds writes one record, its reply, which shares the journal's group commit (as a
 * file each, a claim and a reply cost two new inodes and four fsyncs per request).
 *
 * The claim made while a request is handled lives in memory only, so a request that fails
 * leaves nothing stored. If the store dies while handling one, the id is unknown after the
 * restart and the request is handled again when it comes back; the handlers make that
 * harmless, as each acts on a contract's stored state (an exchange already stored or
 * complete is answered as it was).
 *
 * An id is kept for `ttlMs` (twice the accepted clock skew: an older request is refused as
 * stale before its id is looked at), then forgotten; once the journal has grown enough, it
 * is rewritten with the replies still kept. A data directory with the earlier
 * `seen/<request-id>.json` files has them moved in when the guard is opened.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../agents/storage/journal.js';
import { parseStrictJson } from '../crypto/strict-json.js';

export interface SeenRecord {
  type: string;
  signer: string;
  at: string;
  /** base64 of the reply bytes; absent while the request is being handled */
  reply?: string;
}

/** A journal line: the reply given to request `k`. */
interface Line {
  k: string;
  r: SeenRecord;
}

/** Rewrite once the journal has grown to this size (or to twice what the last rewrite left). */
const COMPACT_AT_BYTES = 4 * 1024 * 1024;
const LEGACY_FILE = /^[A-Za-z0-9_-]+\.json$/;

export class ReplayGuard {
  private compactAt = COMPACT_AT_BYTES;
  private compacting?: Promise<void>;

  private constructor(
    private readonly journal: Journal,
    private readonly kept: Map<string, SeenRecord>,
    private readonly ttlMs: number,
  ) {}

  /** Opens the guard in `dir` (which must exist). */
  static async open(dir: string, ttlMs: number): Promise<ReplayGuard> {
    const kept = new Map<string, SeenRecord>();
    const { journal } = Journal.open(join(dir, 'journal.jsonl'), (record) => {
      const line = record as Line;
      kept.set(line.k, line.r);
    });
    const guard = new ReplayGuard(journal, kept, ttlMs);
    await guard.moveIn(dir);
    guard.prune();
    return guard;
  }

  private fresh(rec: SeenRecord | undefined, now = Date.now()): SeenRecord | undefined {
    return rec && now - Date.parse(rec.at) <= this.ttlMs ? rec : undefined;
  }

  /** how many ids are kept (some may have expired since the last prune) */
  get size(): number {
    return this.kept.size;
  }

  seen(requestId: string): SeenRecord | undefined {
    return this.fresh(this.kept.get(requestId));
  }

  /** Records (in memory) that `requestId` is being acted on; false when it was already (then `seen` has it). */
  claim(requestId: string, rec: SeenRecord): boolean {
    if (this.seen(requestId)) return false;
    this.kept.set(requestId, rec);
    return true;
  }

  /**
   * Stores the reply given to `requestId`; resolves once it is durable. Memory first, so
   * that a rewrite starting meanwhile writes it too; a replay answered with it before it is
   * on disk gets a true answer, as the request's effects are stored before its reply is made.
   */
  async saveReply(requestId: string, rec: SeenRecord & { reply: string }): Promise<void> {
    const before = this.kept.get(requestId);
    this.kept.set(requestId, rec);
    try {
      await this.journal.append(JSON.stringify({ k: requestId, r: rec } satisfies Line));
    } catch (e) {
      if (this.kept.get(requestId) === rec) {
        if (before) this.kept.set(requestId, before);
        else this.kept.delete(requestId);
      }
      throw e;
    }
  }

  /** Forgets the claim of a request that failed, so that it may come again. */
  drop(requestId: string): void {
    if (!this.kept.get(requestId)?.reply) this.kept.delete(requestId);
  }

  /** Forgets ids older than the TTL; rewrites the journal once it has grown enough. Returns how many were forgotten. */
  prune(now = Date.now()): number {
    let removed = 0;
    for (const [id, rec] of this.kept) {
      if (!this.fresh(rec, now)) {
        this.kept.delete(id);
        removed++;
      }
    }
    if (this.journal.size >= this.compactAt) void this.compact();
    return removed;
  }

  /** Rewrites the journal with the ids kept (a failure leaves the old journal, still valid). */
  compact(): Promise<void> {
    return (this.compacting ??= this.rewrite()
      .catch(() => undefined)
      .finally(() => (this.compacting = undefined)));
  }

  private async rewrite(): Promise<void> {
    const lines: string[] = [];
    for (const [k, r] of this.kept) if (r.reply) lines.push(JSON.stringify({ k, r } satisfies Line));
    await this.journal.rewrite(lines);
    this.compactAt = Math.max(COMPACT_AT_BYTES, 2 * this.journal.size);
  }

  async close(): Promise<void> {
    await this.compacting;
    await this.journal.close();
  }

  /** Moves `<request-id>.json` files (the layout before the journal) into it. */
  private async moveIn(dir: string): Promise<void> {
    const files = readdirSync(dir).filter((n) => LEGACY_FILE.test(n));
    if (!files.length) return;
    for (const name of files) {
      try {
        const rec = this.fresh(parseStrictJson(readFileSync(join(dir, name), 'utf8')) as SeenRecord);
        // a claim without a reply: its request never finished, and may come again
        if (rec?.reply) this.kept.set(name.slice(0, -'.json'.length), rec);
      } catch {
        // unreadable: an id from before a power loss, as good as forgotten
      }
    }
    // the files go once the journal holds them
    await this.rewrite();
    for (const name of files) rmSync(join(dir, name), { force: true });
  }
}
