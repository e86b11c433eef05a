/**
 * What a file host store (agents/runtime/host-store.ts) recorded: the arrivals in its
 * journal, read straight from the file as a test looking at a data directory would.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Envelope } from '../../agents/runtime/envelope.js';

export function hostedArrivals(agentsDir: string): Array<{ key: string; env: Envelope }> {
  const file = join(agentsDir, 'journal.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { t: string; k: string; env?: Envelope })
    .filter((r) => r.t === 'in')
    .map((r) => ({ key: r.k, env: r.env! }));
}
