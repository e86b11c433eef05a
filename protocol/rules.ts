/**
 * NRule: the buyer's private negotiation rules and how the Negotiation Agent judges a
 * revealed bid against them (PROTOCOL.md, Phase 2, item 4). Rules stay inside the Agent
 * Home; nothing here is ever put on the wire, not even the reason for a rejection.
 *
 * File format (what `parley buyer request --rules rules.json` reads):
 *
 *   {
 *     "limits":  { "price": {"max": 1200}, "deliveryDays": {"max": 14}, "warrantyMonths": {"min": 12} },
 *     "weights": { "price": 0.6, "deliveryDays": 0.2, "warrantyMonths": 0.2 },
 *     "ranges":  { "price": {"best": 900, "worst": 1200}, "deliveryDays": {"best": 2, "worst": 14},
 *                  "warrantyMonths": {"best": 36, "worst": 12} },
 *     "reservation": 0.4
 *   }
 *
 * - Issues are exactly those of a bid (ISSUES in protocol/commerce.ts): `price` (unit
 *   price, in the request's currency), `deliveryDays`, `warrantyMonths`.
 * - `limits` (optional): hard, inclusive bounds per issue, `{min?, max?}` with at least one
 *   of them and min ≤ max.
 * - `weights`: ≥ 0, at least one above 0; an issue left out weighs 0.
 * - `ranges`: `{best, worst}` for every issue with a weight above 0, best ≠ worst. best may
 *   lie below worst (lower is better: price, delivery) or above it (warranty).
 * - `reservation`: the least utility the buyer accepts, in [0, 1].
 *
 * Utility (weighted additive over normalised issues, each clamped to [0, 1]):
 *
 *   u(b) = Σ_i w_i · clamp((b_i − worst_i) / (best_i − worst_i), 0, 1) / Σ_i w_i
 *
 * A bid is accepted when it is for the requested item, quantity and currency, every limit
 * holds, and u(b) ≥ reservation.
 *
 * The Negotiation Agent evaluates bids in a hot loop, so `compileRules` turns the rules into
 * plain numeric fields once; its `evaluate` iterates no objects and allocates only the
 * verdict it returns.
 */
import { z } from 'zod';
import { ISSUES, bidMatchesRequest, type Bid, type Issue, type PurchaseRequest } from './commerce.js';
import { parleyError } from './errors.js';

const finite = z.number().finite();

function perIssue<S extends z.ZodType>(schema: S) {
  const shape = {
    price: schema.optional(),
    deliveryDays: schema.optional(),
    warrantyMonths: schema.optional(),
  } satisfies Record<Issue, z.ZodOptional<S>>;
  return z.strictObject(shape);
}

export const LimitSchema = z.strictObject({ min: finite.optional(), max: finite.optional() });
export const RangeSchema = z.strictObject({ best: finite, worst: finite });

export const RulesSchema = z.strictObject({
  limits: perIssue(LimitSchema).optional(),
  weights: perIssue(finite.min(0, 'must be ≥ 0')),
  ranges: perIssue(RangeSchema),
  reservation: finite.min(0, 'must be in [0, 1]').max(1, 'must be in [0, 1]'),
});
export type Rules = z.infer<typeof RulesSchema>;
export type Limit = z.infer<typeof LimitSchema>;
export type Range = z.infer<typeof RangeSchema>;

export type VerdictReason = 'accepted' | 'mismatch' | 'limit' | 'below-reservation';
export interface Verdict {
  accept: boolean;
  /** the bid's utility in [0, 1]; 0 for a mismatch (a bid for something else has none) */
  utility: number;
  reason: VerdictReason;
}

function invalid(where: string, message: string): never {
  throw parleyError('ERR_RULES_INVALID', `rules: ${where}: ${message}`);
}

function pathOf(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join('.') : '(root)';
}

/** The semantic constraints the schema cannot state. */
function checkSemantics(rules: Rules): void {
  for (const issue of ISSUES) {
    const limit = rules.limits?.[issue];
    if (limit) {
      if (limit.min === undefined && limit.max === undefined) invalid(`limits.${issue}`, 'give min, max or both');
      if (limit.min !== undefined && limit.max !== undefined && limit.min > limit.max) {
        invalid(`limits.${issue}`, `min ${limit.min} is above max ${limit.max}`);
      }
    }
    const weight = rules.weights[issue] ?? 0;
    const range = rules.ranges[issue];
    if (weight > 0 && !range) invalid(`ranges.${issue}`, `missing, but ${issue} has weight ${weight}`);
    if (range && range.best === range.worst) invalid(`ranges.${issue}`, 'best equals worst');
  }
  if (!ISSUES.some((issue) => (rules.weights[issue] ?? 0) > 0)) invalid('weights', 'at least one weight must be above 0');
}

/** Validates a rules document (schema and semantics); ERR_RULES_INVALID names the defect. */
export function parseRules(value: unknown): Rules {
  const r = RulesSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    invalid(issue ? pathOf(issue.path) : '(root)', issue?.message ?? 'invalid');
  }
  checkSemantics(r.data);
  return r.data;
}

/** clamp(t, 0, 1); NaN counts as the worst value and -0 becomes 0. */
function clamp01(t: number): number {
  return t > 0 ? (t < 1 ? t : 1) : 0;
}

/**
 * The buyer's utility of a bid, straight from the rules (no precomputation): the reference
 * the compiled form must agree with bit for bit. Assumes rules that passed `parseRules`.
 */
export function utility(rules: Rules, bid: Bid): number {
  let sum = 0;
  let total = 0;
  for (const issue of ISSUES) {
    const w = rules.weights[issue] ?? 0;
    total += w;
    const range = rules.ranges[issue];
    if (w === 0 || !range) continue;
    sum += w * clamp01((bid[issue] - range.worst) / (range.best - range.worst));
  }
  return sum / total;
}

/** Rules turned into numbers, for the Negotiation Agent's hot loop. Treat `rules` as frozen. */
export interface CompiledRules {
  readonly rules: Rules;
  utility(bid: Bid): number;
  evaluate(request: PurchaseRequest, bid: Bid): Verdict;
}

const MISMATCH: Verdict = Object.freeze({ accept: false, utility: 0, reason: 'mismatch' });

class Compiled implements CompiledRules {
  // limits, ±Infinity when absent
  private readonly pMin: number;
  private readonly pMax: number;
  private readonly dMin: number;
  private readonly dMax: number;
  private readonly wMin: number;
  private readonly wMax: number;
  // weights, worst values and spans (best − worst); an unweighted issue gets 0, 0, 1
  private readonly pW: number;
  private readonly pWorst: number;
  private readonly pSpan: number;
  private readonly dW: number;
  private readonly dWorst: number;
  private readonly dSpan: number;
  private readonly wW: number;
  private readonly wWorst: number;
  private readonly wSpan: number;
  private readonly total: number;
  private readonly reservation: number;

  constructor(readonly rules: Rules) {
    const lim = (issue: Issue): [number, number] => [rules.limits?.[issue]?.min ?? -Infinity, rules.limits?.[issue]?.max ?? Infinity];
    const term = (issue: Issue): [number, number, number] => {
      const w = rules.weights[issue] ?? 0;
      const range = rules.ranges[issue];
      return w > 0 && range ? [w, range.worst, range.best - range.worst] : [0, 0, 1];
    };
    [this.pMin, this.pMax] = lim('price');
    [this.dMin, this.dMax] = lim('deliveryDays');
    [this.wMin, this.wMax] = lim('warrantyMonths');
    [this.pW, this.pWorst, this.pSpan] = term('price');
    [this.dW, this.dWorst, this.dSpan] = term('deliveryDays');
    [this.wW, this.wWorst, this.wSpan] = term('warrantyMonths');
    // summed in ISSUES order, as `utility` does, so both give the same bits
    this.total = (rules.weights.price ?? 0) + (rules.weights.deliveryDays ?? 0) + (rules.weights.warrantyMonths ?? 0);
    this.reservation = rules.reservation;
  }

  utility(bid: Bid): number {
    // same operations in the same order as `utility`: unweighted terms add an exact 0
    const sum =
      this.pW * clamp01((bid.price - this.pWorst) / this.pSpan) +
      this.dW * clamp01((bid.deliveryDays - this.dWorst) / this.dSpan) +
      this.wW * clamp01((bid.warrantyMonths - this.wWorst) / this.wSpan);
    return sum / this.total;
  }

  evaluate(request: PurchaseRequest, bid: Bid): Verdict {
    if (!bidMatchesRequest(bid, request)) return MISMATCH;
    const u = this.utility(bid);
    // comparisons with NaN are false, so a NaN value fails its limit
    const withinLimits =
      bid.price >= this.pMin && bid.price <= this.pMax &&
      bid.deliveryDays >= this.dMin && bid.deliveryDays <= this.dMax &&
      bid.warrantyMonths >= this.wMin && bid.warrantyMonths <= this.wMax;
    if (!withinLimits) return { accept: false, utility: u, reason: 'limit' };
    if (!(u >= this.reservation)) return { accept: false, utility: u, reason: 'below-reservation' };
    return { accept: true, utility: u, reason: 'accepted' };
  }
}

/** Precomputes the rules once; pass rules that came from `parseRules`. */
export function compileRules(rules: Rules): CompiledRules {
  return new Compiled(rules);
}

const compiledCache = new WeakMap<Rules, CompiledRules>();

/** Judges one bid; compiles the rules on first use and reuses that for the same rules object. */
export function evaluateBid(rules: Rules, request: PurchaseRequest, bid: Bid): Verdict {
  let c = compiledCache.get(rules);
  if (!c) {
    c = compileRules(rules);
    compiledCache.set(rules, c);
  }
  return c.evaluate(request, bid);
}
