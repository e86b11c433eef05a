/**
 * What a store's journals recorded, read straight from the files as a test looking at a
 * data directory would (the store may still be running): the arrivals of its file host
 * store (agents/runtime/host-store.ts) and its offers (store/offer-book.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Envelope } from '../../agents/runtime/envelope.js';
import type { OfferRecord } from '../../store/offer-book.js';

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

/** The offer a store made in session `sn`, from `<dataDir>/offers/journal.jsonl`. */
export function storedOffer(dataDir: string, sn: string): OfferRecord {
  const key = `offer.${sn}`;
  for (const line of readFileSync(join(dataDir, 'offers', 'journal.jsonl'), 'utf8').split('\n')) {
    // a line being written may be incomplete: only whole lines are records
    if (!line.startsWith(`{"k":${JSON.stringify(key)},`)) continue;
    try {
      return (JSON.parse(line) as { v: OfferRecord }).v;
    } catch {
      break;
    }
  }
  throw new Error(`no offer for session ${sn} in ${dataDir}`);
}
