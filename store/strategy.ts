/**
 * A merchant's concession list B[1..k], best for the merchant first (PROTOCOL.md, Phase 1b,
 * "Sales Agent"): the Sales Agent commits to the list in a hash chain and reveals it in
 * order, so the list is fixed before negotiation starts.
 *
 * Lists come from a time-dependent tactic (Faratin, Sierra & Jennings 1998, "Negotiation
 * decision functions for autonomous agents"): bid i of k concedes the fraction
 *
 *   f(i) = t^(1/β),  t = (i − 1) / (k − 1)     (f = 0 when k = 1)
 *
 * of the way from the merchant's opening terms to its last ones:
 *
 *   price_i          = round2(listPrice − f · (listPrice − floorPrice))
 *   deliveryDays_i   = round(delivery.from + f · (delivery.to − delivery.from))
 *   warrantyMonths_i = round(warranty.from + f · (warranty.to − warranty.from))
 *
 * `linear` is β = 1; `boulware` has β < 1 (default 0.3: holds out, concedes late);
 * `conceder` has β > 1 (default 3: concedes early). Or the merchant writes the list itself.
 */
import { z } from 'zod';
import { BidSchema, type Bid, type PurchaseRequest } from '../protocol/commerce.js';
import { parleyError } from '../protocol/errors.js';

export const STRATEGY_KINDS = ['linear', 'boulware', 'conceder'] as const;
export type StrategyKind = (typeof STRATEGY_KINDS)[number];
export const DEFAULT_BETA: Readonly<Record<StrategyKind, number>> = { linear: 1, boulware: 0.3, conceder: 3 };
export const MAX_BIDS = 1000;

export const StrategySchema = z.strictObject({
  kind: z.enum(STRATEGY_KINDS),
  /** k, the number of bids */
  bids: z.number().int().min(1).max(MAX_BIDS),
  beta: z.number().finite().positive().optional(),
});
export type Strategy = z.infer<typeof StrategySchema>;

/** from = the first (slowest) delivery offered, to = the fastest conceded */
export const DeliverySpanSchema = z.strictObject({ from: BidSchema.shape.deliveryDays, to: BidSchema.shape.deliveryDays });
/** from = the first (shortest) warranty offered, to = the longest conceded */
export const WarrantySpanSchema = z.strictObject({ from: BidSchema.shape.warrantyMonths, to: BidSchema.shape.warrantyMonths });
export type Span = z.infer<typeof DeliverySpanSchema>;

/** The negotiable terms of one bid, as a merchant writes them in an explicit list. */
export const BidTermsSchema = BidSchema.pick({ price: true, deliveryDays: true, warrantyMonths: true });
export type BidTerms = z.infer<typeof BidTermsSchema>;

/** The fields of a strategy-driven offer; store/config.ts composes them into a catalogue entry. */
export const concessionPlanShape = {
  listPrice: BidSchema.shape.price,
  floorPrice: BidSchema.shape.price,
  strategy: StrategySchema,
  delivery: DeliverySpanSchema,
  warranty: WarrantySpanSchema,
};
export interface ConcessionPlan {
  listPrice: number;
  floorPrice: number;
  strategy: Strategy;
  delivery: Span;
  warranty: Span;
}

/** A defect found in a plan or list: where (relative to the entry) and what. */
export interface Defect {
  path: Array<string | number>;
  message: string;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
const isCents = (x: number): boolean => round2(x) === x;

/** β of a strategy: the given one, else the kind's default. */
export function betaOf(strategy: Strategy): number {
  return strategy.beta ?? DEFAULT_BETA[strategy.kind];
}

function betaDefect(strategy: Strategy): string | undefined {
  const b = strategy.beta;
  if (b === undefined) return undefined;
  if (!Number.isFinite(b) || b <= 0) return 'must be a number above 0';
  if (strategy.kind === 'linear' && b !== 1) return 'linear means beta = 1 (leave it out)';
  if (strategy.kind === 'boulware' && !(b < 1)) return 'boulware needs 0 < beta < 1';
  if (strategy.kind === 'conceder' && !(b > 1)) return 'conceder needs beta > 1';
  return undefined;
}

/** Semantic defects of a concession plan whose fields have the right types. */
export function planDefects(plan: ConcessionPlan): Defect[] {
  const out: Defect[] = [];
  const k = plan.strategy.bids;
  if (!Number.isInteger(k) || k < 1 || k > MAX_BIDS) out.push({ path: ['strategy', 'bids'], message: `must be an integer in 1..${MAX_BIDS}` });
  const beta = betaDefect(plan.strategy);
  if (beta) out.push({ path: ['strategy', 'beta'], message: beta });
  if (!isCents(plan.listPrice)) out.push({ path: ['listPrice'], message: 'at most 2 decimals' });
  if (!isCents(plan.floorPrice)) out.push({ path: ['floorPrice'], message: 'at most 2 decimals' });
  if (!(plan.floorPrice > 0)) out.push({ path: ['floorPrice'], message: 'must be above 0' });
  if (!(plan.listPrice > plan.floorPrice)) out.push({ path: ['floorPrice'], message: 'must be below listPrice' });
  if (plan.delivery.from < plan.delivery.to) out.push({ path: ['delivery'], message: 'from (first offered) must not be faster than to' });
  if (plan.warranty.from > plan.warranty.to) out.push({ path: ['warranty'], message: 'from (first offered) must not be longer than to' });
  return out;
}

/** Semantic defects of an explicit list: 1..MAX_BIDS bids, price never rising down the list. */
export function listDefects(bids: readonly BidTerms[]): Defect[] {
  const out: Defect[] = [];
  if (bids.length < 1 || bids.length > MAX_BIDS) out.push({ path: [], message: `must hold 1..${MAX_BIDS} bids` });
  for (let i = 1; i < bids.length; i++) {
    if (bids[i]!.price > bids[i - 1]!.price) out.push({ path: [i, 'price'], message: 'must not be above the previous bid\'s price' });
  }
  return out;
}

function reject(defects: Defect[], prefix: string): void {
  const d = defects[0];
  if (!d) return;
  const where = d.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
  throw parleyError('ERR_CONFIG', `${prefix}${where}: ${d.message}`);
}

/** f(i) = t^(1/β) with t = (i − 1)/(k − 1), for i in 1..k; exactly 0 at i = 1 and 1 at i = k > 1. */
export function concessionFraction(i: number, k: number, beta: number): number {
  if (i <= 1 || k <= 1) return 0;
  if (i >= k) return 1;
  return ((i - 1) / (k - 1)) ** (1 / beta);
}

/** Items the bids are for: the entry's item and currency, the request's quantity. */
interface Offered {
  item: string;
  currency: string;
}

/** The k bids of a strategy, best for the merchant first; ERR_CONFIG for a defective plan. */
export function concessionBids(entry: ConcessionPlan & Offered, request: Pick<PurchaseRequest, 'quantity'>): Bid[] {
  reject(planDefects(entry), 'plan');
  const { listPrice, floorPrice, delivery, warranty } = entry;
  const k = entry.strategy.bids;
  const beta = betaOf(entry.strategy);
  const bids: Bid[] = [];
  for (let i = 1; i <= k; i++) {
    const f = concessionFraction(i, k, beta);
    bids.push({
      item: entry.item,
      quantity: request.quantity,
      currency: entry.currency,
      // every step is monotone in f, so prices never rise; the floor is a cent value, so
      // rounding cannot go below it, and the max() makes that explicit
      price: Math.max(floorPrice, round2(listPrice - f * (listPrice - floorPrice))),
      deliveryDays: Math.round(delivery.from + f * (delivery.to - delivery.from)),
      warrantyMonths: Math.round(warranty.from + f * (warranty.to - warranty.from)),
    });
  }
  return bids;
}

/** A merchant's own list, with item, quantity and currency filled in; ERR_CONFIG for a defective list. */
export function explicitBids(entry: Offered & { bids: readonly BidTerms[] }, request: Pick<PurchaseRequest, 'quantity'>): Bid[] {
  reject(listDefects(entry.bids), 'bids');
  return entry.bids.map((b) => ({
    item: entry.item,
    quantity: request.quantity,
    currency: entry.currency,
    price: b.price,
    deliveryDays: b.deliveryDays,
    warrantyMonths: b.warrantyMonths,
  }));
}
