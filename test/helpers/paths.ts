/** Paths the suites share: the repository root, temp dirs, and the shared test vectors. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `../shared/vectors/wycheproof` next to the repository, or PARLEY_VECTORS; undefined when absent. */
export function wycheproofDir(): string | undefined {
  const dir = process.env.PARLEY_VECTORS ?? resolve(REPO_ROOT, '..', 'shared', 'vectors', 'wycheproof');
  return existsSync(dir) ? dir : undefined;
}

const announced = new Set<string>();
/** Prints, once per suite name, that the vectors folder is missing. */
export function noteMissingVectors(suite: string): void {
  if (announced.has(suite)) return;
  announced.add(suite);
  console.log(`# ${suite}: ../shared/vectors/wycheproof not found; Wycheproof conformance not run`);
}

/** A fresh temp directory removed by the returned disposer. */
export function tempDir(prefix = 'parley-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
