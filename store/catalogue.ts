/**
 * Whether a store can serve a purchase request (Phase 1b, step 2) and the concession list
 * it would offer for it.
 */
import type { Bid, PurchaseRequest } from '../protocol/commerce.js';
import type { CatalogueEntry, StoreConfig } from './config.js';
import { concessionBids, explicitBids } from './strategy.js';

/**
 * The first catalogue entry that serves `request`: its category is one of the store's and
 * equals the request's, item and currency are equal, stock covers the quantity, and every
 * requested attribute has the same value in the entry (the entry may have more).
 */
export function findOffer(config: Pick<StoreConfig, 'categories' | 'catalogue'>, request: PurchaseRequest): CatalogueEntry | undefined {
  if (!config.categories.includes(request.category)) return undefined;
  return config.catalogue.find((e) => entryServes(e, request));
}

function entryServes(e: CatalogueEntry, request: PurchaseRequest): boolean {
  if (e.category !== request.category || e.item !== request.item || e.currency !== request.currency) return false;
  if (e.stock < request.quantity) return false;
  for (const [name, value] of Object.entries(request.attributes)) {
    if (!Object.hasOwn(e.attributes, name) || e.attributes[name] !== value) return false;
  }
  return true;
}

/** The entry's bids B[1..k] for this request (quantity from the request), best for the merchant first. */
export function bidsFor(entry: CatalogueEntry, request: PurchaseRequest): Bid[] {
  return entry.bids !== undefined ? explicitBids(entry, request) : concessionBids(entry, request);
}
