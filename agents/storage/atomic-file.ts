/**
 * Files that survive a crash at any instant: content goes to a temp file that is fsynced,
 * then renamed over the target (or hard-linked, to create only if absent), then the
 * directory is fsynced. A reader sees the old content or the new, never half of either.
 *
 * Each function has an `…Async` twin for daemons' hot paths: an fsync takes milliseconds,
 * and done synchronously it would stop the event loop (every other agent and request of
 * the process waits); the twins run on libuv's thread pool, several at once. Records
 * written very often belong in a journal instead (journal.ts): a file each costs an inode.
 */
import { closeSync, existsSync, fchmodSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, basename } from 'node:path';
import { parseStrictJson } from '../../crypto/strict-json.js';

function writeTemp(path: string, data: Uint8Array | string, mode: number): string {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = tempPath(path);
  const fd = openSync(tmp, 'wx', mode);
  try {
    fchmodSync(fd, mode); // the umask must neither widen nor narrow what was asked for
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  return tmp;
}

/** fsyncs a directory (after a rename or link in it), where the filesystem allows it. */
export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some filesystems refuse fsync on directories; the rename is still atomic there
  }
}

/** Atomically replaces `path` with `data`. `mode` applies to new content (0600 for secrets). */
export function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): void {
  const tmp = writeTemp(path, data, mode);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(path));
}

/** Atomically creates `path` with `data`; false (and nothing written) when it already exists. */
export function createFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): boolean {
  const tmp = writeTemp(path, data, mode);
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkSync(tmp);
    fsyncDir(dirname(path));
  }
}

export function readJsonFile<T = unknown>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  return parseStrictJson(readFileSync(path, 'utf8')) as T;
}

export function writeJsonAtomic(path: string, value: unknown, mode = 0o644): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', mode);
}

function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * node:fs callbacks as promises. The twins use these rather than node:fs/promises: its
 * FileHandle objects took 1.6-2.6 times the user CPU per atomic write here, on a store's
 * hot path (a few files per visit).
 */
export function fsCall<T = void>(fn: (done: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));
}

const openAsync = (path: string, flags: string, mode?: number) => fsCall<number>((d) => fs.open(path, flags, mode, d));
const closeAsync = (fd: number) => fsCall((d) => fs.close(fd, d));
const syncAsync = (fd: number) => fsCall((d) => fs.fsync(fd, d));

/** Writes all of `buf` at `position` of `fd` (a write may take less than asked). */
export function writeAllAt(fd: number, buf: Uint8Array, position = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number) =>
      fs.write(fd, buf, off, buf.length - off, position + off, (err, n) => {
        if (err) reject(err);
        else if (off + n < buf.length) step(off + n);
        else resolve();
      });
    step(0);
  });
}

/** Opens a new temp file beside `path`; the directory is created only when missing. */
async function openTempAsync(path: string, mode: number): Promise<{ tmp: string; fd: number }> {
  const tmp = tempPath(path);
  try {
    return { tmp, fd: await openAsync(tmp, 'wx', mode) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await fsCall((d) => fs.mkdir(dirname(path), { recursive: true }, (err) => d(err)));
    return { tmp, fd: await openAsync(tmp, 'wx', mode) };
  }
}

async function writeTempAsync(path: string, data: Uint8Array | string, mode: number, durable: boolean): Promise<string> {
  const { tmp, fd } = await openTempAsync(path, mode);
  try {
    await fsCall((d) => fs.fchmod(fd, mode, d)); // as in writeTemp
    await writeAllAt(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    if (durable) await syncAsync(fd);
  } catch (e) {
    await closeAsync(fd).catch(() => undefined);
    await fsCall((d) => fs.rm(tmp, { force: true }, d));
    throw e;
  }
  await closeAsync(fd);
  return tmp;
}

async function fsyncDirAsync(dir: string): Promise<void> {
  try {
    const fd = await openAsync(dir, 'r');
    try {
      await syncAsync(fd);
    } finally {
      await closeAsync(fd);
    }
  } catch {
    // as fsyncDir
  }
}

export interface AsyncWriteOptions {
  mode?: number;
  /**
   * false: no fsync (default true). For records that can be lost without harm because they
   * are re-derived or redone: a process killed at any point still leaves the old content or
   * the new (the rename is atomic), but after a power loss the file may be old, empty or
   * absent, so its readers must treat unreadable content as absent.
   */
  durable?: boolean;
}

/** `writeFileAtomic` without blocking the event loop. */
export async function writeFileAtomicAsync(path: string, data: Uint8Array | string, opts: number | AsyncWriteOptions = {}): Promise<void> {
  const { mode = 0o644, durable = true } = typeof opts === 'number' ? { mode: opts } : opts;
  const tmp = await writeTempAsync(path, data, mode, durable);
  try {
    await fsCall((d) => fs.rename(tmp, path, d));
  } catch (e) {
    await fsCall((d) => fs.rm(tmp, { force: true }, d));
    throw e;
  }
  if (durable) await fsyncDirAsync(dirname(path));
}

/** `createFileAtomic` without blocking the event loop. */
export async function createFileAtomicAsync(path: string, data: Uint8Array | string, mode = 0o644): Promise<boolean> {
  const tmp = await writeTempAsync(path, data, mode, true);
  try {
    await fsCall((d) => fs.link(tmp, path, d));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await fsCall((d) => fs.unlink(tmp, d));
    await fsyncDirAsync(dirname(path));
  }
}

export function writeJsonAtomicAsync(path: string, value: unknown, opts: number | AsyncWriteOptions = {}): Promise<void> {
  return writeFileAtomicAsync(path, JSON.stringify(value, null, 2) + '\n', opts);
}
