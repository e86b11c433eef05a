/**
 * The sales offers a store has made, one per session, and how each Sales Agent's delivery
 * to the Agent Home ended: `offers/journal.jsonl` (0600: the offers hold the bids and
 * K[k+1]), a map kept in a journal (agents/storage/journal-map.ts). Every visit that makes
 * an offer writes both records, so they share the journal's group commit instead of costing
 * a file each (new inodes, links, renames and directory fsyncs were a fifth of a store's CPU).
 *
 * A data directory from before the journal, with an `offers/<sn>.json` (and
 * `<sn>.sent.json`) per session, is moved into it when the book is opened.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { JournalMap } from '../agents/storage/journal-map.js';
import type { Envelope } from '../agents/runtime/envelope.js';
import type { Bid, PurchaseRequest } from '../protocol/commerce.js';
import type { WireError } from '../protocol/errors.js';
import type { SalesOffer } from '../protocol/sales.js';
import { parseStrictJson } from '../crypto/strict-json.js';

/** The sales offer a store made in one session; never changes once written. */
export interface OfferRecord {
  v: 1;
  sn: string;
  /** the Agent Home the Sales Agent went to */
  home: string;
  item: string;
  /** the request and deadline the Invite Agent carried (signed by the Agent Home in SG_REQ) */
  request: PurchaseRequest;
  deadline: string;
  createdAt: string;
  /** the offer's expiry (MSG.expiry) */
  expiry: string;
  /** B[1..k], best for the merchant first */
  bids: Bid[];
  /** K[k+1], base64url: with the bids it yields every K[i] */
  tail: string;
  /** K[1], base64url (signed in the offer) */
  k1: string;
  /** SG_MSG over {SN, MSG, K[1]} */
  offer: SalesOffer;
  /** the Sales Agent as issued (re-sent unchanged until the Agent Home acknowledges it) */
  agent: Envelope;
}

export interface DispatchRecord {
  /** delivered: the Agent Home has the Sales Agent; refused/expired: it never will */
  state: 'delivered' | 'refused' | 'expired';
  at: string;
  detail?: string;
  error?: WireError;
}

/** An invitation the store declined: kept for the merchant's console (`parley store console`). */
export interface DeclineRecord {
  v: 1;
  sn: string;
  home: string;
  request: PurchaseRequest;
  deadline: string;
  at: string;
  reason: string;
}

const offerKey = (sn: string) => `offer.${sn}`;
const sentKey = (sn: string) => `sent.${sn}`;
const declinedKey = (sn: string) => `declined.${sn}`;

/** What a key of the book's journal names (for readers of the journal: store/console-data.ts). */
export function bookKey(key: string): { kind: 'offer' | 'sent' | 'declined'; sn: string } | undefined {
  const m = /^(offer|sent|declined)\.(.+)$/.exec(key);
  return m ? { kind: m[1] as 'offer' | 'sent' | 'declined', sn: m[2]! } : undefined;
}
const LEGACY_FILE = /^([0-9a-f]{32})(\.sent)?\.json$/;
const MOVE_CHUNK = 256;

export class OfferBook {
  private constructor(private readonly map: JournalMap<OfferRecord | DispatchRecord | DeclineRecord>) {}

  /** Opens the book in `offersDir` (which must exist), moving in any per-session files found there. */
  static async open(offersDir: string): Promise<OfferBook> {
    const book = new OfferBook(JournalMap.open(join(offersDir, 'journal.jsonl')));
    await book.moveIn(offersDir);
    return book;
  }

  offer(sn: string): OfferRecord | undefined {
    return this.map.get(offerKey(sn)) as OfferRecord | undefined;
  }

  /** Stores the session's offer record; false when one exists already (then `offer` has it). */
  createOffer(rec: OfferRecord): Promise<boolean> {
    return this.map.create(offerKey(rec.sn), rec);
  }

  /** Every session this store made an offer in. */
  sessions(): string[] {
    const prefix = offerKey('');
    return this.map
      .keys()
      .filter((k) => k.startsWith(prefix))
      .map((k) => k.slice(prefix.length));
  }

  /** Whether the session's Sales Agent has a delivery outcome (without reading it from disk). */
  dispatched(sn: string): boolean {
    return this.map.has(sentKey(sn));
  }

  dispatch(sn: string): DispatchRecord | undefined {
    return this.map.get(sentKey(sn)) as DispatchRecord | undefined;
  }

  /**
   * Lazy (agents/storage/journal.ts): a delivery record lost in a crash only means that the
   * Sales Agent is sent again, and the Agent Home answers that it has it.
   */
  setDispatch(sn: string, rec: DispatchRecord): Promise<void> {
    return this.map.put(sentKey(sn), rec, { lazy: true });
  }

  /** Lazy, as a delivery record: a decline lost in a crash only leaves the console without it. */
  setDeclined(rec: DeclineRecord): Promise<void> {
    return this.map.put(declinedKey(rec.sn), rec, { lazy: true });
  }

  close(): Promise<void> {
    return this.map.close();
  }

  /**
   * Moves per-session files (the layout before the journal) into it, a few hundred at a
   * time so that they share synced writes; each file goes once its record is durable.
   */
  private async moveIn(dir: string): Promise<void> {
    const files = readdirSync(dir).filter((n) => LEGACY_FILE.test(n));
    for (let i = 0; i < files.length; i += MOVE_CHUNK) {
      await Promise.all(files.slice(i, i + MOVE_CHUNK).map((name) => this.moveFile(dir, name)));
    }
  }

  private async moveFile(dir: string, name: string): Promise<void> {
    const [, sn, sent] = LEGACY_FILE.exec(name)!;
    const path = join(dir, name);
    let value: unknown;
    try {
      value = parseStrictJson(readFileSync(path, 'utf8'));
    } catch {
      // a delivery record was not fsynced and may be damaged after a power loss: the
      // Sales Agent is sent again, and the Agent Home answers that it has it
      if (!sent) throw new Error(`offer record ${path} is unreadable; move it away to start the store`);
      rmSync(path, { force: true });
      return;
    }
    // not lazy: a lazy record would wait for a batch once per file
    if (sent) await this.map.put(sentKey(sn!), value as DispatchRecord);
    else await this.createOffer(value as OfferRecord);
    rmSync(path, { force: true });
  }
}
