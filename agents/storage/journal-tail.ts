/**
 * Reads a journal (journal.ts) that another process is writing, without ever writing to
 * it: each `read` returns the records appended since the previous one. A line still being
 * written (no newline yet, or not JSON yet) is left for the next read, never cut off as
 * `Journal.open` does for its own file. A file that shrank was rewritten (compaction): it
 * is read again from the start and `reset` says so.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parseStrictJson } from '../../crypto/strict-json.js';

const NL = 0x0a;

/**
 * The complete records at the start of `data`, handed to `each` with where their line is;
 * returns the bytes they take (where the first incomplete or damaged line starts).
 */
export function scanRecords(data: Buffer, each: (record: unknown, at: { offset: number; length: number }) => void, base = 0): number {
  let good = 0;
  for (let start = 0; start < data.length; ) {
    const end = data.indexOf(NL, start);
    if (end < 0) break;
    let record: unknown;
    try {
      record = parseStrictJson(data.toString('utf8', start, end));
    } catch {
      break;
    }
    each(record, { offset: base + start, length: end - start });
    good = start = end + 1;
  }
  return good;
}

export class JournalTail {
  private offset = 0;

  constructor(readonly path: string) {}

  /** Records appended since the last read; `reset` when the file was rewritten meanwhile. */
  read(): { records: unknown[]; reset: boolean } {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], reset: false };
      throw e;
    }
    try {
      const size = fstatSync(fd).size;
      const reset = size < this.offset;
      if (reset) this.offset = 0;
      if (size === this.offset) return { records: [], reset };
      const data = Buffer.alloc(size - this.offset);
      let got = 0;
      while (got < data.length) {
        const n = readSync(fd, data, got, data.length - got, this.offset + got);
        if (n === 0) break;
        got += n;
      }
      const records: unknown[] = [];
      this.offset += scanRecords(data.subarray(0, got), (r) => records.push(r));
      return { records, reset };
    } finally {
      closeSync(fd);
    }
  }
}
