/**
 * A durable map from keys to JSON values, kept in a journal (journal.ts): for records that
 * are written once or seldom, many times a second, and read back by key now and then (a
 * store's sales offers and how their delivery ended). A file per record would cost each one
 * a new inode, a link or rename and two fsyncs; here records written together share one
 * write and one fdatasync.
 *
 * Memory holds only where each key's latest line is; a value is read back from the file
 * (from the page cache, as a rule) when asked for, so a store that has made a hundred
 * thousand offers holds a few megabytes, not the offers. Nothing is compacted: as with a
 * file per record, the journal grows with the records kept.
 *
 * One process per file (as for the journal).
 */
import { Journal, type LineSpan } from './journal.js';
import { parseStrictJson } from '../../crypto/strict-json.js';

interface Line<V> {
  k: string;
  v: V;
}

export class JournalMap<V> {
  /** creates under way, by key: another create of the key waits for its outcome */
  private readonly creating = new Map<string, Promise<boolean>>();

  private constructor(
    private readonly journal: Journal,
    /** where each key's latest record is */
    private readonly index: Map<string, LineSpan>,
  ) {}

  /** Opens (creating it if absent) the map kept in the journal at `path`. */
  static open<V>(path: string): JournalMap<V> {
    const index = new Map<string, LineSpan>();
    const { journal } = Journal.open(path, (record, at) => {
      const k = (record as Partial<Line<V>> | null)?.k;
      if (typeof k === 'string') index.set(k, at);
    });
    return new JournalMap<V>(journal, index);
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  keys(): string[] {
    return [...this.index.keys()];
  }

  get(key: string): V | undefined {
    const at = this.index.get(key);
    return at && (parseStrictJson(this.journal.read(at).toString('utf8')) as Line<V>).v;
  }

  /**
   * Stores `value` under `key` unless the key has one; resolves once it is durable, true
   * when this call stored it. A create racing another for the same key waits for it, so a
   * `false` always means that `get` finds the value.
   */
  async create(key: string, value: V): Promise<boolean> {
    for (;;) {
      const other = this.creating.get(key);
      if (!other) break;
      // the other create failed to be written: try again
      if (await other.catch(() => false)) return false;
    }
    if (this.index.has(key)) return false;
    const line = JSON.stringify({ k: key, v: value } satisfies Line<V>);
    const p = this.journal
      .append(line)
      .then((at) => {
        this.index.set(key, at);
        return true;
      })
      .finally(() => this.creating.delete(key));
    this.creating.set(key, p);
    return p;
  }

  /**
   * Stores `value` under `key`, replacing what it had; resolves once it is durable (and
   * `get` returns it). `lazy`: as the journal's, for a record whose loss costs only redone work.
   */
  async put(key: string, value: V, opts: { lazy?: boolean } = {}): Promise<void> {
    const at = await this.journal.append(JSON.stringify({ k: key, v: value } satisfies Line<V>), opts);
    // puts of one key made together land in order; the latest line is the value
    const known = this.index.get(key);
    if (!known || known.offset < at.offset) this.index.set(key, at);
  }

  /** Waits for the writes under way, then closes the file. */
  close(): Promise<void> {
    return this.journal.close();
  }
}
