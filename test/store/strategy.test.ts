/** Concession strategies: shapes, monotonicity, floor, interpolation and rounding, β checks. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { throwsCode } from '../helpers/assert.js';
import { BidSchema, type Bid } from '../../protocol/commerce.js';
import { concessionBids, concessionFraction, explicitBids, type ConcessionPlan, type StrategyKind } from '../../store/strategy.js';

const test = suite('strategy');

const request = { quantity: 3 };
const plan = (kind: StrategyKind, k = 8, over: Partial<ConcessionPlan> = {}, beta?: number) => ({
  item: 'laptop-pro-14',
  currency: 'EUR',
  listPrice: 1400,
  floorPrice: 1050,
  strategy: beta === undefined ? { kind, bids: k } : { kind, bids: k, beta },
  delivery: { from: 10, to: 3 },
  warranty: { from: 12, to: 24 },
  ...over,
});
const prices = (bids: Bid[]) => bids.map((b) => b.price);

test('linear: equal steps from list to floor, with delivery and warranty interpolated and rounded', () => {
  const bids = concessionBids(plan('linear'), request);
  assert.equal(prices(bids), [1400, 1350, 1300, 1250, 1200, 1150, 1100, 1050]);
  assert.equal(bids.map((b) => b.deliveryDays), [10, 9, 8, 7, 6, 5, 4, 3]);
  // 12 + 12·i/7 = 12, 13.71, 15.43, 17.14, 18.86, 20.57, 22.29, 24
  assert.equal(bids.map((b) => b.warrantyMonths), [12, 14, 15, 17, 19, 21, 22, 24]);
});

test('every bid is a valid Bid for the entry item and currency and the request quantity', () => {
  for (const b of concessionBids(plan('boulware'), request)) {
    assert.ok(BidSchema.safeParse(b).success, JSON.stringify(b));
    assert.is(b.item, 'laptop-pro-14');
    assert.is(b.currency, 'EUR');
    assert.is(b.quantity, 3);
  }
});

test('Boulware concedes less than linear at the 2nd bid, Conceder more', () => {
  const lin = concessionBids(plan('linear'), request)[1]!.price;
  const boul = concessionBids(plan('boulware'), request)[1]!.price;
  const conc = concessionBids(plan('conceder'), request)[1]!.price;
  assert.ok(boul > lin && lin > conc, `${boul} > ${lin} > ${conc}`);
  // (1/7)^(1/0.3) ≈ 0.001524 → 1400 − 0.53 ; (1/7)^(1/3) ≈ 0.52276 → 1400 − 182.97
  assert.is(boul, 1399.47);
  assert.is(conc, 1217.03);
  // the defaults are β = 0.3 and β = 3
  assert.equal(concessionBids(plan('boulware'), request), concessionBids(plan('boulware', 8, {}, 0.3), request));
  assert.equal(concessionBids(plan('conceder'), request), concessionBids(plan('conceder', 8, {}, 3), request));
  // a given β is used: β = 0.5 gives (1/7)^2·350 = 7.14 → 1392.86
  assert.is(concessionBids(plan('boulware', 8, {}, 0.5), request)[1]!.price, 1392.86);
});

test('concessionFraction: t^(1/β), 0 first and 1 last', () => {
  assert.is(concessionFraction(1, 5, 0.3), 0);
  assert.is(concessionFraction(5, 5, 0.3), 1);
  assert.is(concessionFraction(3, 5, 1), 0.5);
  assert.is(concessionFraction(3, 5, 0.5), 0.25);
  assert.is(concessionFraction(1, 1, 3), 0);
});

test('all strategies: first = list, last = floor, monotone, never below the floor', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let n = 0; n < 300; n++) {
    const kind = (['linear', 'boulware', 'conceder'] as const)[n % 3]!;
    const floor = (1 + Math.round(rnd() * 100_000)) / 100;
    const list = (Math.round(floor * 100) + 1 + Math.round(rnd() * 500_000)) / 100;
    const k = 1 + Math.floor(rnd() * 60);
    const beta = kind === 'linear' ? undefined : kind === 'boulware' ? 0.05 + rnd() * 0.9 : 1.1 + rnd() * 9;
    const p = plan(kind, k, { listPrice: list, floorPrice: floor, delivery: { from: 30, to: 1 }, warranty: { from: 0, to: 60 } }, beta);
    const bids = concessionBids(p, request);
    const what = JSON.stringify(p);
    assert.is(bids.length, k, what);
    assert.is(bids[0]!.price, list, what);
    if (k > 1) assert.is(bids[k - 1]!.price, floor, what);
    for (let i = 0; i < k; i++) {
      assert.ok(bids[i]!.price >= floor, `floor: ${what}`);
      if (i === 0) continue;
      assert.ok(bids[i]!.price <= bids[i - 1]!.price, `price rises at ${i}: ${what}`);
      assert.ok(bids[i]!.deliveryDays <= bids[i - 1]!.deliveryDays, `delivery slows at ${i}: ${what}`);
      assert.ok(bids[i]!.warrantyMonths >= bids[i - 1]!.warrantyMonths, `warranty shrinks at ${i}: ${what}`);
    }
  }
});

test('k = 1 is just the list price with the first delivery and warranty', () => {
  for (const kind of ['linear', 'boulware', 'conceder'] as const) {
    assert.equal(concessionBids(plan(kind, 1), request), [
      { item: 'laptop-pro-14', quantity: 3, currency: 'EUR', price: 1400, deliveryDays: 10, warrantyMonths: 12 },
    ]);
  }
});

test('prices are rounded to cents', () => {
  // linear k = 4 from 100 to 33.33: 100 − 66.67/3 = 77.7767, 100 − 2·66.67/3 = 55.5533
  assert.equal(prices(concessionBids(plan('linear', 4, { listPrice: 100, floorPrice: 33.33 }), request)), [100, 77.78, 55.55, 33.33]);
});

test('delivery and warranty round to the nearest whole day and month', () => {
  // linear k = 4, delivery 10 → 0: 10, 6.67, 3.33, 0; warranty 0 → 10: 0, 3.33, 6.67, 10
  const bids = concessionBids(plan('linear', 4, { delivery: { from: 10, to: 0 }, warranty: { from: 0, to: 10 } }), request);
  assert.equal(bids.map((b) => b.deliveryDays), [10, 7, 3, 0]);
  assert.equal(bids.map((b) => b.warrantyMonths), [0, 3, 7, 10]);
});

test('an extreme β still ends exactly at the floor (1^∞ is NaN in JavaScript)', () => {
  const bids = concessionBids(plan('boulware', 3, {}, 1e-320), request);
  assert.equal(prices(bids), [1400, 1400, 1050]);
  assert.equal(bids.map((b) => b.deliveryDays), [10, 10, 3]);
});

test('a β inconsistent with the kind, and other defective plans, are ERR_CONFIG', () => {
  throwsCode(() => concessionBids(plan('boulware', 8, {}, 1), request), 'ERR_CONFIG', 'boulware β = 1');
  throwsCode(() => concessionBids(plan('boulware', 8, {}, 2), request), 'ERR_CONFIG', 'boulware β = 2');
  throwsCode(() => concessionBids(plan('conceder', 8, {}, 1), request), 'ERR_CONFIG', 'conceder β = 1');
  throwsCode(() => concessionBids(plan('conceder', 8, {}, 0.5), request), 'ERR_CONFIG', 'conceder β = 0.5');
  throwsCode(() => concessionBids(plan('linear', 8, {}, 2), request), 'ERR_CONFIG', 'linear β = 2');
  throwsCode(() => concessionBids(plan('boulware', 8, {}, 0), request), 'ERR_CONFIG', 'β = 0');
  throwsCode(() => concessionBids(plan('boulware', 8, {}, -0.3), request), 'ERR_CONFIG', 'β < 0');
  throwsCode(() => concessionBids(plan('boulware', 8, {}, Number.NaN), request), 'ERR_CONFIG', 'β NaN');
  assert.is(concessionBids(plan('linear', 8, {}, 1), request).length, 8, 'linear β = 1 is fine');
  throwsCode(() => concessionBids(plan('linear', 0), request), 'ERR_CONFIG', 'k = 0');
  throwsCode(() => concessionBids(plan('linear', 1001), request), 'ERR_CONFIG', 'k = 1001');
  throwsCode(() => concessionBids(plan('linear', 2.5), request), 'ERR_CONFIG', 'k = 2.5');
  throwsCode(() => concessionBids(plan('linear', 8, { floorPrice: 1400 }), request), 'ERR_CONFIG', 'floor = list');
  throwsCode(() => concessionBids(plan('linear', 8, { floorPrice: 1500 }), request), 'ERR_CONFIG', 'floor > list');
  throwsCode(() => concessionBids(plan('linear', 8, { listPrice: 10, floorPrice: 0 }), request), 'ERR_CONFIG', 'floor = 0');
  throwsCode(() => concessionBids(plan('linear', 8, { floorPrice: 1050.005 }), request), 'ERR_CONFIG', 'floor below a cent');
  throwsCode(() => concessionBids(plan('linear', 8, { delivery: { from: 3, to: 10 } }), request), 'ERR_CONFIG', 'delivery slows');
  throwsCode(() => concessionBids(plan('linear', 8, { warranty: { from: 24, to: 12 } }), request), 'ERR_CONFIG', 'warranty shrinks');
});

test('an explicit list is kept as written, with item, quantity and currency filled in', () => {
  const entry = {
    item: 'dock-usb-c',
    currency: 'EUR',
    bids: [
      { price: 199, deliveryDays: 5, warrantyMonths: 12 },
      { price: 179, deliveryDays: 3, warrantyMonths: 24 },
    ],
  };
  assert.equal(explicitBids(entry, { quantity: 4 }), [
    { item: 'dock-usb-c', quantity: 4, currency: 'EUR', price: 199, deliveryDays: 5, warrantyMonths: 12 },
    { item: 'dock-usb-c', quantity: 4, currency: 'EUR', price: 179, deliveryDays: 3, warrantyMonths: 24 },
  ]);
  throwsCode(() => explicitBids({ ...entry, bids: [...entry.bids].reverse() }, request), 'ERR_CONFIG', 'rising price');
  throwsCode(() => explicitBids({ ...entry, bids: [] }, request), 'ERR_CONFIG', 'empty list');
});

test.run();
