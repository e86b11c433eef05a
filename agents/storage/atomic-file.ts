/**
 * Files that survive a crash at any instant: content goes to a temp file that is fsynced,
 * then renamed over the target (or hard-linked, to create only if absent), then the
 * directory is fsynced. A reader sees the old content or the new, never half of either.
 *
 * Each function has an `…Async` twin for daemons' hot paths: an fsync takes milliseconds,
 * and done synchronously it would stop the event loop (every other agent and request of
 * the process waits); the twins run on libuv's thread pool, several at once.
 */
import { closeSync, existsSync, fchmodSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { open, link, mkdir, rename, rm, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, basename } from 'node:path';

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

function fsyncDir(dir: string): void {
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
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function writeJsonAtomic(path: string, value: unknown, mode = 0o644): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', mode);
}

function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

async function writeTempAsync(path: string, data: Uint8Array | string, mode: number): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPath(path);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.chmod(mode);
    await fh.writeFile(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  return tmp;
}

async function fsyncDirAsync(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // as fsyncDir
  }
}

/** `writeFileAtomic` without blocking the event loop. */
export async function writeFileAtomicAsync(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const tmp = await writeTempAsync(path, data, mode);
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncDirAsync(dirname(path));
}

/** `createFileAtomic` without blocking the event loop. */
export async function createFileAtomicAsync(path: string, data: Uint8Array | string, mode = 0o644): Promise<boolean> {
  const tmp = await writeTempAsync(path, data, mode);
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await unlink(tmp);
    await fsyncDirAsync(dirname(path));
  }
}

export function writeJsonAtomicAsync(path: string, value: unknown, mode = 0o644): Promise<void> {
  return writeFileAtomicAsync(path, JSON.stringify(value, null, 2) + '\n', mode);
}
