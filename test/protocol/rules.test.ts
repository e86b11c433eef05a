/** NRule: parsing (every defect is ERR_RULES_INVALID), utility known answers, verdicts, compiled = reference. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { throwsCode } from '../helpers/assert.js';
import { ISSUES, type Bid, type PurchaseRequest } from '../../protocol/commerce.js';
import { compileRules, evaluateBid, parseRules, utility, type Rules, type Verdict } from '../../protocol/rules.js';

const test = suite('rules');

const example = {
  limits: { price: { max: 1200 }, deliveryDays: { max: 14 }, warrantyMonths: { min: 12 } },
  weights: { price: 0.6, deliveryDays: 0.2, warrantyMonths: 0.2 },
  ranges: { price: { best: 900, worst: 1200 }, deliveryDays: { best: 2, worst: 14 }, warrantyMonths: { best: 36, worst: 12 } },
  reservation: 0.4,
};
const rules = parseRules(example);
const request: PurchaseRequest = { item: 'laptop-pro-14', category: 'laptops', quantity: 2, currency: 'EUR', attributes: {} };
const bid = (price: number, deliveryDays: number, warrantyMonths: number, over: Partial<Bid> = {}): Bid => ({
  item: 'laptop-pro-14',
  quantity: 2,
  currency: 'EUR',
  price,
  deliveryDays,
  warrantyMonths,
  ...over,
});
const close = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) < 1e-12, `${what}: got ${got}, want ${want}`);
const verdictOf = (b: Bid): Verdict => evaluateBid(rules, request, b);

test('the example rules parse unchanged', () => {
  assert.equal(rules, example);
});

test('utility: hand-computed values', () => {
  // price (1000−1200)/(900−1200) = 2/3, delivery (5−14)/(2−14) = 3/4, warranty (24−12)/(36−12) = 1/2
  // 0.6·2/3 + 0.2·3/4 + 0.2·1/2 = 0.4 + 0.15 + 0.1
  close(utility(rules, bid(1000, 5, 24)), 0.65, 'middle bid');
  close(utility(rules, bid(1200, 14, 12)), 0, 'all worst');
  close(utility(rules, bid(900, 2, 36)), 1, 'all best');
  // beyond best clamps to 1, beyond worst to 0: 0.6·1 + 0.2·0 + 0.2·1
  close(utility(rules, bid(800, 20, 48)), 0.8, 'clamped');
});

test('utility: weights are normalised and missing weights count as 0', () => {
  const r = parseRules({ weights: { price: 3, warrantyMonths: 1 }, ranges: { price: { best: 900, worst: 1200 }, warrantyMonths: { best: 36, worst: 12 } }, reservation: 0 });
  // price (1050−1200)/(−300) = 1/2, warranty 0: 3·0.5 / 4
  close(utility(r, bid(1050, 99, 12)), 0.375, 'weights 3:1');
  close(compileRules(r).utility(bid(1050, 99, 12)), 0.375, 'compiled, weights 3:1');
  // delivery has no weight and no range: any delivery gives the same utility
  assert.is(utility(r, bid(1050, 0, 12)), utility(r, bid(1050, 3000, 12)));
});

test('a good bid is accepted, with its utility', () => {
  const v = verdictOf(bid(1000, 5, 24));
  assert.is(v.accept, true);
  assert.is(v.reason, 'accepted');
  close(v.utility, 0.65, 'utility');
});

test('utility equal to the reservation is accepted', () => {
  // 0 + 0.2 + 0.2 = 0.4 exactly
  assert.equal(verdictOf(bid(1200, 2, 36)), { accept: true, utility: 0.4, reason: 'accepted' });
});

test('below the reservation is rejected', () => {
  // 0.6·(1/6) + 0.2·(1/6) + 0 = 0.1333…
  const v = verdictOf(bid(1150, 12, 12));
  assert.is(v.accept, false);
  assert.is(v.reason, 'below-reservation');
  close(v.utility, 0.8 / 6, 'utility');
});

test('each hard limit rejects even a bid whose utility is high enough', () => {
  // price above max: utility 0 + 0.2 + 0.2 = 0.4 would pass the reservation
  assert.is(verdictOf(bid(1200.01, 2, 36)).reason, 'limit', 'price max');
  assert.is(verdictOf(bid(900, 15, 36)).reason, 'limit', 'delivery max');
  assert.is(verdictOf(bid(900, 2, 11)).reason, 'limit', 'warranty min');
  assert.is(verdictOf(bid(900, 14, 12)).accept, true, 'limits are inclusive');
  const withMin = parseRules({ ...example, limits: { price: { min: 500, max: 1200 }, warrantyMonths: { max: 24 } } });
  assert.is(evaluateBid(withMin, request, bid(499.99, 2, 24)).reason, 'limit', 'price min');
  assert.is(evaluateBid(withMin, request, bid(500, 2, 24)).reason, 'accepted', 'price at min');
  assert.is(evaluateBid(withMin, request, bid(900, 2, 25)).reason, 'limit', 'warranty max');
  const v = verdictOf(bid(900, 15, 36));
  assert.is(v.accept, false);
  close(v.utility, 0.8, 'a limit verdict still carries the utility');
});

test('a bid for another item, quantity or currency is a mismatch', () => {
  for (const over of [{ item: 'laptop-pro-16' }, { quantity: 3 }, { currency: 'USD' }]) {
    assert.equal(verdictOf(bid(900, 2, 36, over)), { accept: false, utility: 0, reason: 'mismatch' }, JSON.stringify(over));
  }
});

test('every invalid rules variant is ERR_RULES_INVALID', () => {
  const variants: Record<string, unknown> = {
    'negative weight': { ...example, weights: { ...example.weights, price: -0.1 } },
    'all-zero weights': { ...example, weights: { price: 0, deliveryDays: 0, warrantyMonths: 0 } },
    'no weights at all': { ...example, weights: {} },
    'missing range for a weighted issue': { ...example, ranges: { price: example.ranges.price, warrantyMonths: example.ranges.warrantyMonths } },
    'best == worst': { ...example, ranges: { ...example.ranges, deliveryDays: { best: 7, worst: 7 } } },
    'best == worst on an unweighted issue': { ...example, weights: { price: 1 }, ranges: { ...example.ranges, deliveryDays: { best: 7, worst: 7 } } },
    'reservation 1.5': { ...example, reservation: 1.5 },
    'reservation -0.1': { ...example, reservation: -0.1 },
    'unknown issue in weights': { ...example, weights: { ...example.weights, colour: 0.1 } },
    'unknown issue in limits': { ...example, limits: { colour: { max: 1 } } },
    'unknown issue in ranges': { ...example, ranges: { ...example.ranges, colour: { best: 1, worst: 2 } } },
    'min > max': { ...example, limits: { price: { min: 1300, max: 1200 } } },
    'empty limit': { ...example, limits: { price: {} } },
    'unknown limit bound': { ...example, limits: { price: { atMost: 1200 } } },
    'missing reservation': { limits: example.limits, weights: example.weights, ranges: example.ranges },
    'missing weights': { limits: example.limits, ranges: example.ranges, reservation: 0.4 },
    'extra top-level field': { ...example, note: 'x' },
    'weight as string': { ...example, weights: { price: '0.6' } },
    'range missing worst': { ...example, ranges: { ...example.ranges, price: { best: 900 } } },
    'not an object': [example],
    null: null,
  };
  for (const [name, value] of Object.entries(variants)) throwsCode(() => parseRules(value), 'ERR_RULES_INVALID', name);
});

test('messages name the defect', () => {
  const message = (value: unknown): string => {
    try {
      parseRules(value);
    } catch (e) {
      return (e as Error).message;
    }
    return '';
  };
  assert.match(message({ ...example, limits: { price: { min: 1300, max: 1200 } } }), 'limits.price');
  assert.match(message({ ...example, weights: { ...example.weights, price: -1 } }), 'weights.price');
  assert.match(message({ ...example, ranges: { price: example.ranges.price, warrantyMonths: example.ranges.warrantyMonths } }), 'ranges.deliveryDays');
  assert.match(message({ ...example, reservation: 1.5 }), 'reservation');
});

// mulberry32: a small seeded PRNG so failures reproduce
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The definition, written out independently of the compiled form. */
function oracle(r: Rules, req: PurchaseRequest, b: Bid): Verdict {
  if (b.item !== req.item || b.quantity !== req.quantity || b.currency !== req.currency) return { accept: false, utility: 0, reason: 'mismatch' };
  const u = utility(r, b);
  for (const issue of ISSUES) {
    const lim = r.limits?.[issue];
    if ((lim?.min !== undefined && b[issue] < lim.min) || (lim?.max !== undefined && b[issue] > lim.max)) return { accept: false, utility: u, reason: 'limit' };
  }
  if (u < r.reservation) return { accept: false, utility: u, reason: 'below-reservation' };
  return { accept: true, utility: u, reason: 'accepted' };
}

test('compiled and uncompiled agree on 10,000 random bids over random rules', () => {
  const rnd = prng(20240601);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const ruleSets: Rules[] = [rules];
  for (let n = 0; n < 20; n++) {
    const weights: Record<string, number> = {};
    const ranges: Record<string, { best: number; worst: number }> = {};
    const limits: Record<string, { min?: number; max?: number }> = {};
    for (const issue of ISSUES) {
      if (rnd() < 0.8) weights[issue] = rnd() < 0.2 ? 0 : Math.round(rnd() * 100) / 100;
      if ((weights[issue] ?? 0) > 0 || rnd() < 0.3) {
        const a = int(0, 2000);
        const b = a + int(1, 500);
        ranges[issue] = rnd() < 0.5 ? { best: a, worst: b } : { best: b, worst: a };
      }
      if (rnd() < 0.5) {
        const lo = int(0, 1500);
        const hi = lo + int(0, 1000);
        limits[issue] = rnd() < 0.33 ? { min: lo } : rnd() < 0.5 ? { max: hi } : { min: lo, max: hi };
      }
    }
    if (!ISSUES.some((i) => (weights[i] ?? 0) > 0)) {
      weights.price = 1;
      ranges.price = { best: 100, worst: 1000 };
    }
    ruleSets.push(parseRules({ limits, weights, ranges, reservation: Math.round(rnd() * 100) / 100 }));
  }
  const reasons = new Set<string>();
  for (let n = 0; n < 10_000; n++) {
    const r = ruleSets[n % ruleSets.length]!;
    const compiled = compileRules(r);
    const over = rnd() < 0.05 ? (rnd() < 0.5 ? { quantity: 3 } : { currency: 'USD' }) : {};
    const b = bid(int(1, 250_000) / 100, int(0, 60), int(0, 60), over);
    const want = oracle(r, request, b);
    assert.is(compiled.utility(b), utility(r, b), `utility #${n}`);
    assert.equal(compiled.evaluate(request, b), want, `compiled verdict #${n}`);
    assert.equal(evaluateBid(r, request, b), want, `evaluateBid verdict #${n}`);
    reasons.add(want.reason);
  }
  // the sample exercised every outcome, so the agreement means something
  assert.equal([...reasons].sort(), ['accepted', 'below-reservation', 'limit', 'mismatch']);
});

test.run();
