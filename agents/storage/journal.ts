/**
 * An append-only file of JSON records, one per line: durable state for a process that
 * writes many small records (a store's hosted agents). A file per record costs, for each
 * record, a new inode, a rename and two fsyncs, which on a busy store was a third of its
 * CPU; here records written while a write is under way go out together in one synced
 * write (group commit), and `append` resolves once its record is on disk.
 *
 * Crash safety: each batch is synced before the next is written, so after a crash only the
 * last batch can be damaged, and none of its appends had resolved. Opening replays the
 * records up to the first line that does not parse and cuts the file there. `rewrite`
 * replaces the whole content (compaction) through a synced temp file and a rename.
 *
 * One process per file: nothing stops a second writer, as with the other files of a data
 * directory.
 */
import { closeSync, constants, fdatasync, fsync, fsyncSync, ftruncate, ftruncateSync, openSync, readFileSync, readSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { fsCall, fsyncDir, writeAllAt } from './atomic-file.js';
import { scanRecords } from './journal-tail.js';

/** Where a record's line is in the journal file (in bytes, without the newline). */
export interface LineSpan {
  offset: number;
  length: number;
}

const datasync = (fd: number) => fsCall((d) => fdatasync(fd, d));
/**
 * O_DSYNC: each write is on disk when it returns, as a write followed by fdatasync, in one
 * call to libuv's thread pool instead of two (each call is a hand-off to a pool thread and
 * back). Where the flag does not exist, batches are followed by fdatasync.
 */
const DSYNC = constants.O_DSYNC ?? 0;
// best effort: the write it follows has failed already, and that failure is what is reported
const truncate = (fd: number, len: number) => fsCall((d) => ftruncate(fd, len, d)).catch(() => undefined);

/** How long a lazy record waits for a synced batch to go with, at most. */
const LAZY_MS = 100;

interface Pending {
  line: string;
  /** the line's length in bytes, newline included */
  bytes: number;
  resolve(at: LineSpan): void;
  reject(err: unknown): void;
}

export class Journal {
  private fd: number;
  /** bytes of complete records in the file: where the next batch goes */
  private length: number;
  private queue: Pending[] = [];
  /** records in the queue that are not lazy: a batch is written at once when there are any */
  private eager = 0;
  /** set when the lazy records' wait is over (or the journal closes): the queue is written */
  private due = false;
  private lazyTimer?: ReturnType<typeof setTimeout>;
  private flushing?: Promise<void>;
  /** flushes and rewrites run one at a time, in order */
  private lock: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly path: string,
    fd: number,
    length: number,
  ) {
    this.fd = fd;
    this.length = length;
  }

  /**
   * Opens (creating it if absent) the journal at `path` and returns it with the records it
   * holds, oldest first. A damaged tail, from a crash during its last write, is cut off.
   * With `each`, records are handed to it one by one (with where their line is, for `read`)
   * instead of being collected.
   */
  static open(path: string, each?: (record: unknown, at: LineSpan) => void): { journal: Journal; records: unknown[] } {
    let data: Buffer;
    let created = false;
    try {
      data = readFileSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      data = Buffer.alloc(0);
      created = true;
    }
    const records: unknown[] = [];
    const good = scanRecords(data, each ?? ((record) => records.push(record)));
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | DSYNC, 0o600);
    if (good < data.length) {
      ftruncateSync(fd, good);
      fsyncSync(fd);
    }
    if (created) fsyncDir(dirname(path));
    return { journal: new Journal(path, fd, good), records };
  }

  /** Bytes in the file (compaction decides by it). */
  get size(): number {
    return this.length;
  }

  /**
   * Appends `record` (JSON-serialisable, or a JSON text without line breaks); resolves once
   * it is durable, with where its line is in the file.
   *
   * `lazy`: for a record whose loss in a crash costs nothing but redoing some work, it waits
   * up to LAZY_MS to go out with the next batch instead of costing a synced write of its
   * own. Records still land in the order they were appended.
   */
  append(record: unknown, opts: { lazy?: boolean } = {}): Promise<LineSpan> {
    if (this.closed) return Promise.reject(new Error(`journal ${this.path} is closed`));
    const line = (typeof record === 'string' ? record : JSON.stringify(record)) + '\n';
    if (line.indexOf('\n') !== line.length - 1) return Promise.reject(new Error('a journal record must be one line'));
    return new Promise((resolve, reject) => {
      this.queue.push({ line, bytes: Buffer.byteLength(line), resolve, reject });
      if (opts.lazy) this.lazyTimer ??= setTimeout(() => this.flushDue(), LAZY_MS);
      else {
        this.eager++;
        this.flushing ??= this.flush();
      }
    });
  }

  private flushDue(): void {
    this.lazyTimer = undefined;
    this.due = true;
    this.flushing ??= this.flush();
  }

  /** Writes what is queued, batch after batch, while a record in it is not lazy (or the wait is over). */
  private async flush(): Promise<void> {
    while (this.queue.length && (this.eager > 0 || this.due)) {
      const batch = this.queue;
      this.queue = [];
      this.eager = 0;
      this.due = false;
      try {
        const start = await this.exclusive(async () => {
          const buf = Buffer.from(batch.map((p) => p.line).join(''), 'utf8');
          try {
            await writeAllAt(this.fd, buf, this.length);
            if (!DSYNC) await datasync(this.fd);
          } catch (e) {
            // a partial write must not survive to be read as records nobody was told about
            await truncate(this.fd, this.length);
            throw e;
          }
          const at = this.length;
          this.length += buf.length;
          return at;
        });
        let offset = start;
        for (const p of batch) {
          p.resolve({ offset, length: p.bytes - 1 });
          offset += p.bytes;
        }
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
    }
    // in the same synchronous step as the last look at the queue: an append made after it
    // starts a new flush
    this.flushing = undefined;
    if (this.queue.length === 0 && this.lazyTimer) {
      clearTimeout(this.lazyTimer);
      this.lazyTimer = undefined;
    } else if (this.queue.length) this.lazyTimer ??= setTimeout(() => this.flushDue(), LAZY_MS);
  }

  /**
   * Replaces the journal's content with `records` (compaction): they are written to a temp
   * file, synced and renamed over the journal. Appends wait meanwhile and land after them.
   */
  rewrite(records: Iterable<unknown>): Promise<void> {
    return this.exclusive(async () => {
      const lines: string[] = [];
      for (const r of records) lines.push((typeof r === 'string' ? r : JSON.stringify(r)) + '\n');
      const buf = Buffer.from(lines.join(''), 'utf8');
      const tmp = `${this.path}.rewrite`;
      // it becomes the journal: opened as the journal is
      const fd = openSync(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | DSYNC, 0o600);
      try {
        await writeAllAt(fd, buf, 0);
        await fsCall((d) => fsync(fd, d));
      } catch (e) {
        closeSync(fd);
        throw e;
      }
      renameSync(tmp, this.path);
      fsyncDir(dirname(this.path));
      closeSync(this.fd);
      this.fd = fd;
      this.length = buf.length;
    });
  }

  /**
   * The line at `at` (from `open` or `append`, and no `rewrite` since), without its newline.
   * Synchronous: a record just written is in the page cache, and a read takes microseconds.
   */
  read(at: LineSpan): Buffer {
    if (this.closed) throw new Error(`journal ${this.path} is closed`);
    const buf = Buffer.allocUnsafe(at.length);
    for (let got = 0; got < at.length; ) {
      const n = readSync(this.fd, buf, got, at.length - got, at.offset + got);
      if (n === 0) throw new Error(`journal ${this.path}: no record at ${at.offset}`);
      got += n;
    }
    return buf;
  }

  /** Waits for queued appends (lazy ones written at once), then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.lazyTimer) this.flushDue();
    while (this.flushing) await this.flushing;
    await this.exclusive(async () => closeSync(this.fd));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => undefined);
    return run;
  }
}
