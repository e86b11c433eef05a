/**
 * The store config file (`parley store start --config store.json`): who the store is, the
 * Agent Home it serves, its contract template and its catalogue with a concession list
 * per item (a strategy from store/strategy.ts, or an explicit list).
 *
 *   {
 *     "id": "shop-a", "home": "home", "name": "Shop A", "categories": ["laptops"],
 *     "identity": { "ca": "ca.pem", "cert": "shop-a.pem", "key": "shop-a.key" },
 *     "nats": "nats://127.0.0.1:4222",
 *     "template": { "title": "Sale of goods", "seller": {"name": "Shop A Ltd"}, "clauses": ["..."] },
 *     "completeTimeoutMs": 10000, "offerTtlMs": 600000,
 *     "catalogue": [
 *       { "item": "laptop-pro-14", "category": "laptops", "currency": "EUR", "stock": 50,
 *         "attributes": {"ram": "32GB"}, "listPrice": 1400, "floorPrice": 1050,
 *         "strategy": {"kind": "boulware", "bids": 8, "beta": 0.3},
 *         "delivery": {"from": 10, "to": 3}, "warranty": {"from": 12, "to": 24} },
 *       { "item": "dock-usb-c", "category": "laptops", "currency": "EUR", "stock": 5, "attributes": {},
 *         "bids": [{"price": 199, "deliveryDays": 5, "warrantyMonths": 12},
 *                  {"price": 179, "deliveryDays": 3, "warrantyMonths": 24}] }
 *     ]
 *   }
 *
 * Identity paths are relative to the config file's folder. `nats` is optional (flags or
 * PARLEY_NATS_URL otherwise). Every defect is ERR_CONFIG naming its path, e.g.
 * `catalogue[1].strategy.beta: boulware needs 0 < beta < 1`.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ContractTemplateSchema, PurchaseRequestSchema, currency, type PurchaseRequest } from '../protocol/commerce.js';
import { isParleyError, parleyError } from '../protocol/errors.js';
import { parseJson } from '../protocol/wire.js';
import { checkJsonFile, parseJsonText } from '../protocol/json-file.js';
import { BidTermsSchema, MAX_BIDS, concessionPlanShape, listDefects, planDefects, type BidTerms, type ConcessionPlan } from './strategy.js';

export const DEFAULT_COMPLETE_TIMEOUT_MS = 10_000;
export const DEFAULT_OFFER_TTL_MS = 600_000;
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

const token = PurchaseRequestSchema.shape.item;
const filePath = z.string().min(1).max(4096);

interface EntryBase {
  item: string;
  category: string;
  currency: string;
  stock: number;
  attributes: PurchaseRequest['attributes'];
}
/** An item whose bids come from a concession strategy. */
export interface StrategyEntry extends EntryBase, ConcessionPlan {
  bids?: undefined;
}
/** An item whose bids the merchant listed itself, best for the merchant first. */
export interface ListEntry extends EntryBase {
  bids: BidTerms[];
  strategy?: undefined;
}
export type CatalogueEntry = StrategyEntry | ListEntry;

const PLAN_FIELDS = ['listPrice', 'floorPrice', 'delivery', 'warranty'] as const;

const CatalogueEntrySchema = z
  .strictObject({
    item: token,
    category: token,
    currency,
    stock: z.number().int().min(0).max(1_000_000_000),
    attributes: PurchaseRequestSchema.shape.attributes.default({}),
    listPrice: concessionPlanShape.listPrice.optional(),
    floorPrice: concessionPlanShape.floorPrice.optional(),
    strategy: concessionPlanShape.strategy.optional(),
    delivery: concessionPlanShape.delivery.optional(),
    warranty: concessionPlanShape.warranty.optional(),
    bids: z.array(BidTermsSchema).min(1).max(MAX_BIDS).optional(),
  })
  .transform((e, ctx): CatalogueEntry => {
    const base: EntryBase = { item: e.item, category: e.category, currency: e.currency, stock: e.stock, attributes: e.attributes };
    const fail = (path: Array<string | number>, message: string): never => {
      ctx.addIssue({ code: 'custom', path, message });
      return z.NEVER;
    };
    if (e.bids && e.strategy) return fail(['bids'], 'give either strategy or bids, not both');
    if (e.bids) {
      for (const f of PLAN_FIELDS) if (e[f] !== undefined) return fail([f], 'only used with a strategy');
      const d = listDefects(e.bids)[0];
      if (d) return fail(['bids', ...d.path], d.message);
      return { ...base, bids: e.bids };
    }
    if (!e.strategy) return fail([], 'needs a strategy or a bids list');
    const { listPrice, floorPrice, delivery, warranty, strategy } = e;
    if (listPrice === undefined) return fail(['listPrice'], 'required with a strategy');
    if (floorPrice === undefined) return fail(['floorPrice'], 'required with a strategy');
    if (delivery === undefined) return fail(['delivery'], 'required with a strategy');
    if (warranty === undefined) return fail(['warranty'], 'required with a strategy');
    const plan: ConcessionPlan = { listPrice, floorPrice, strategy, delivery, warranty };
    const d = planDefects(plan)[0];
    if (d) return fail(d.path, d.message);
    return { ...base, ...plan };
  });

export const StoreConfigSchema = z
  .strictObject({
    /** the merchant id (its certificate's subject) */
    id: token,
    /** the Agent Home this store serves */
    home: token,
    name: z.string().min(1).max(200),
    categories: z.array(token).min(1).max(100),
    identity: z.strictObject({ ca: filePath, cert: filePath, key: filePath }),
    nats: z.string().min(1).max(2000).optional(),
    template: ContractTemplateSchema,
    /** how long the merchant waits for the buyer's complete signature SG before resolving */
    completeTimeoutMs: z.number().int().min(100).max(3_600_000).default(DEFAULT_COMPLETE_TIMEOUT_MS),
    /** how long a sales offer (MSG) stays valid */
    offerTtlMs: z.number().int().min(1000).max(86_400_000).default(DEFAULT_OFFER_TTL_MS),
    catalogue: z.array(CatalogueEntrySchema).min(1).max(10_000),
  })
  .superRefine((c, ctx) => {
    c.categories.forEach((cat, i) => {
      if (c.categories.indexOf(cat) !== i) ctx.addIssue({ code: 'custom', path: ['categories', i], message: `${cat} is listed twice` });
    });
    const seen = new Map<string, number>();
    c.catalogue.forEach((e, i) => {
      if (!c.categories.includes(e.category)) {
        ctx.addIssue({ code: 'custom', path: ['catalogue', i, 'category'], message: `${e.category} is not one of the store's categories` });
      }
      const key = `${e.item} ${e.currency}`;
      const first = seen.get(key);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['catalogue', i, 'item'], message: `${e.item} in ${e.currency} is already catalogue[${first}]` });
      else seen.set(key, i);
    });
  });
export type StoreConfig = z.output<typeof StoreConfigSchema>;

function formatPath(path: readonly PropertyKey[]): string {
  if (!path.length) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** Validates a parsed config; identity paths become absolute, resolved against `baseDir`. */
export function parseStoreConfig(value: unknown, baseDir: string): StoreConfig {
  const r = StoreConfigSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw parleyError('ERR_CONFIG', `${formatPath(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}`);
  }
  const { ca, cert, key } = r.data.identity;
  return { ...r.data, identity: { ca: resolve(baseDir, ca), cert: resolve(baseDir, cert), key: resolve(baseDir, key) } };
}

/** Reads and validates a config file; ERR_CONFIG (prefixed with the file) if unreadable, not JSON or invalid. */
export function loadStoreConfig(path: string): StoreConfig {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw parleyError('ERR_CONFIG', `cannot read store config ${path}`, e);
  }
  let value: unknown;
  try {
    value = parseJson(bytes, MAX_CONFIG_BYTES);
  } catch (e) {
    // where: line and column of the syntax error
    parseJsonText(path, new TextDecoder().decode(bytes), 'ERR_CONFIG');
    throw parleyError('ERR_CONFIG', `${path}: not valid JSON`, e);
  }
  // each defect as file:line:column, an unknown key with the closest valid one
  checkJsonFile(path, new TextDecoder().decode(bytes), value, StoreConfigSchema, 'ERR_CONFIG');
  try {
    return parseStoreConfig(value, dirname(resolve(path)));
  } catch (e) {
    if (isParleyError(e)) throw parleyError('ERR_CONFIG', `${path}: ${e.message}`, e);
    throw e;
  }
}
