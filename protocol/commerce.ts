/**
 * The commercial vocabulary every role shares: the buyer's public purchase request (REQ),
 * a merchant's bid, and the contract template a merchant offers. Bids are plain JSON so
 * they can be committed in the hash chain (RFC 8785 canonical form).
 *
 * Numeric negotiation issues of a bid: `price` (unit price, in `currency`), `deliveryDays`,
 * `warrantyMonths`. The buyer's rules (protocol/rules.ts) range over exactly these.
 */
import { z } from 'zod';

export const ISSUES = ['price', 'deliveryDays', 'warrantyMonths'] as const;
export type Issue = (typeof ISSUES)[number];

const token = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a lowercase token');
const text = (max: number) => z.string().min(1).max(max);
export const currency = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code like EUR');
const attrValue = z.union([z.string().max(200), z.number().finite(), z.boolean()]);

/** REQ: what the buyer wants; public, carries nothing that identifies the buyer. */
export const PurchaseRequestSchema = z.strictObject({
  item: token,
  category: token,
  quantity: z.number().int().min(1).max(1_000_000),
  currency,
  /** attributes the item must have, e.g. {"ram": "32GB"} */
  attributes: z.record(z.string().regex(/^[a-zA-Z0-9_-]{1,40}$/), attrValue).refine((a) => Object.keys(a).length <= 32, 'at most 32 attributes'),
});
export type PurchaseRequest = z.infer<typeof PurchaseRequestSchema>;

/** One bid B[i] of a merchant's committed concession list. */
export const BidSchema = z.strictObject({
  item: token,
  quantity: z.number().int().min(1).max(1_000_000),
  currency,
  /** unit price */
  price: z.number().finite().positive().max(1e12),
  deliveryDays: z.number().int().min(0).max(3650),
  warrantyMonths: z.number().int().min(0).max(1200),
});
export type Bid = z.infer<typeof BidSchema>;

/** The merchant's contract template: the prose the terms are embedded in. */
export const ContractTemplateSchema = z.strictObject({
  title: text(200),
  seller: z.strictObject({ name: text(200), address: text(500).optional() }),
  clauses: z.array(text(2000)).max(50),
  jurisdiction: text(100).optional(),
});
export type ContractTemplate = z.infer<typeof ContractTemplateSchema>;

/** Whether a bid is for what was requested (item, quantity, currency). */
export function bidMatchesRequest(bid: Bid, req: PurchaseRequest): boolean {
  return bid.item === req.item && bid.quantity === req.quantity && bid.currency === req.currency;
}
