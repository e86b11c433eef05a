/** Hash-chain bid commitments: honest reveals verify; every deviation from the committed list is caught. */
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  assertPrefix,
  bidLink,
  commitBids,
  keyFromB64u,
  keyToB64u,
  MAX_BIDS,
  revealAt,
  revealFromWire,
  revealToWire,
  RevealVerifier,
  verifyPrefix,
  verifyReveal,
  type BidReveal,
  type JsonValue,
} from '../../crypto/hashchain.js';
import { flipBit, throwsCode } from '../helpers/assert.js';

const bids: JsonValue[] = [
  { price: 1300, deliveryDays: 3, warrantyMonths: 24 },
  { price: 1200, deliveryDays: 5, warrantyMonths: 24 },
  { price: 1100, deliveryDays: 7, warrantyMonths: 12 },
  { price: 1000, deliveryDays: 14, warrantyMonths: 12 },
];

function allReveals(bs: JsonValue[]): { root: Uint8Array; reveals: BidReveal[] } {
  const c = commitBids(bs);
  return { root: c.root, reveals: bs.map((_, i) => revealAt(c, bs, i + 1)) };
}

test('commitment shape: root = K[1], k + 1 keys of 32 bytes', () => {
  const c = commitBids(bids);
  assert.is(c.k, 4);
  assert.is(c.keys.length, 5);
  for (const key of c.keys) assert.is(key.length, 32);
  assert.equal(c.root, c.keys[0]);
  // K[k+1] is random: two commitments to the same list differ
  assert.not.equal(commitBids(bids).root, c.root);
});

test('honest reveal of all k bids verifies step by step and as a prefix', () => {
  const c = commitBids(bids);
  const v = new RevealVerifier(c.root, c.k);
  let expected = c.root;
  for (let i = 1; i <= c.k; i++) {
    const r = revealAt(c, bids, i);
    assert.equal(r.bid, bids[i - 1]);
    assert.ok(verifyReveal(expected, r.bid, r.next), `reveal ${i}`);
    assert.is(v.next(r.bid, r.next), i);
    assert.is(v.index, i);
    expected = r.next;
  }
  assert.ok(v.exhausted);
  const reveals = v.prefix();
  assert.ok(verifyPrefix(c.root, reveals, c.k));
  assertPrefix(c.root, reveals, c.k);
  // every shorter prefix verifies as well
  for (let j = 1; j <= c.k; j++) assert.ok(verifyPrefix(c.root, reveals.slice(0, j)), `prefix ${j}`);
});

test('known-answer: root equals a chain computed independently with node:crypto', () => {
  const c = commitBids(bids);
  const tail = c.keys[c.k] as Uint8Array;
  // canonical forms written out by hand (RFC 8785: keys sorted, no whitespace)
  const canon = [
    '{"deliveryDays":3,"price":1300,"warrantyMonths":24}',
    '{"deliveryDays":5,"price":1200,"warrantyMonths":24}',
    '{"deliveryDays":7,"price":1100,"warrantyMonths":12}',
    '{"deliveryDays":14,"price":1000,"warrantyMonths":12}',
  ];
  let k = Buffer.from(tail);
  const independent: Buffer[] = [k];
  for (let i = canon.length - 1; i >= 0; i--) {
    k = createHash('sha256').update('parley/bid', 'utf8').update(canon[i] as string, 'utf8').update(k).digest();
    independent.unshift(k);
  }
  assert.is(Buffer.from(c.root).toString('hex'), (independent[0] as Buffer).toString('hex'));
  for (let i = 0; i <= c.k; i++) assert.is(Buffer.from(c.keys[i] as Uint8Array).toString('hex'), (independent[i] as Buffer).toString('hex'));
  // a fixed vector: next = 32 × 0x00, bid {"b":1,"a":"x"}
  const zero = new Uint8Array(32);
  const want = createHash('sha256').update('parley/bid{"a":"x","b":1}').update(zero).digest('hex');
  assert.is(Buffer.from(bidLink({ b: 1, a: 'x' }, zero)).toString('hex'), want);
});

test('reordering two bids is detected', () => {
  const { root, reveals } = allReveals(bids);
  const swapped = [reveals[1], reveals[0], ...reveals.slice(2)] as BidReveal[];
  assert.not.ok(verifyPrefix(root, swapped));
  throwsCode(() => assertPrefix(root, swapped), 'ERR_COMMITMENT_INVALID');
  // swapping only the bids (keeping the key sequence) fails too
  const bidsSwapped = reveals.map((r, i) => ({ bid: (i === 0 ? reveals[1] : i === 1 ? reveals[0] : r)?.bid ?? null, next: r.next }));
  assert.not.ok(verifyPrefix(root, bidsSwapped));
  // and committing to the list in another order gives a different chain
  const v = new RevealVerifier(root, 4);
  throwsCode(() => v.next(bids[1] as JsonValue, (reveals[0] as BidReveal).next), 'ERR_COMMITMENT_INVALID');
});

test('swapping a bid for another one is detected, with the failing index named', () => {
  const { root, reveals } = allReveals(bids);
  const forged = reveals.map((r) => ({ ...r }));
  (forged[2] as BidReveal).bid = { price: 900, deliveryDays: 7, warrantyMonths: 12 };
  assert.ok(verifyPrefix(root, forged.slice(0, 2)));
  assert.not.ok(verifyPrefix(root, forged));
  try {
    assertPrefix(root, forged);
    assert.unreachable('should throw');
  } catch (e) {
    assert.is((e as { code?: string }).code, 'ERR_COMMITMENT_INVALID');
    assert.match((e as Error).message, /bid 3\b/);
  }
});

test('skipping a bid (revealing B[2] first) is detected', () => {
  const c = commitBids(bids);
  const r2 = revealAt(c, bids, 2);
  assert.not.ok(verifyReveal(c.root, r2.bid, r2.next));
  assert.not.ok(verifyPrefix(c.root, [r2]));
  const v = new RevealVerifier(c.root, c.k);
  throwsCode(() => v.next(r2.bid, r2.next), 'ERR_COMMITMENT_INVALID');
  assert.is(v.index, 0, 'a failed reveal does not advance');
  // the honest B[1] is still accepted afterwards
  const r1 = revealAt(c, bids, 1);
  assert.is(v.next(r1.bid, r1.next), 1);
  // dropping B[2] from a prefix is detected too
  const { root, reveals } = allReveals(bids);
  assert.not.ok(verifyPrefix(root, [reveals[0], reveals[2]] as BidReveal[]));
});

test('altering one field of a bid (price 1200 → 1199) is detected', () => {
  const c = commitBids(bids);
  const r = revealAt(c, bids, 2);
  const v = new RevealVerifier(c.root, c.k);
  const r1 = revealAt(c, bids, 1);
  v.next(r1.bid, r1.next);
  const altered = { ...(r.bid as Record<string, JsonValue>), price: 1199 };
  assert.not.ok(verifyReveal(r1.next, altered, r.next));
  throwsCode(() => v.next(altered, r.next), 'ERR_COMMITMENT_INVALID');
  // an added field or a type change (1200 vs "1200") is detected as well
  assert.not.ok(verifyReveal(r1.next, { ...(r.bid as Record<string, JsonValue>), note: '' }, r.next));
  assert.not.ok(verifyReveal(r1.next, { ...(r.bid as Record<string, JsonValue>), price: '1200' }, r.next));
  assert.ok(verifyReveal(r1.next, r.bid, r.next));
});

test('a wrong next key is detected', () => {
  const c = commitBids(bids);
  const r = revealAt(c, bids, 1);
  assert.not.ok(verifyReveal(c.root, r.bid, flipBit(r.next, 77)));
  assert.not.ok(verifyReveal(c.root, r.bid, c.keys[2] as Uint8Array));
  assert.not.ok(verifyReveal(c.root, r.bid, r.next.subarray(0, 31)), 'short key');
  const v = new RevealVerifier(c.root, c.k);
  throwsCode(() => v.next(r.bid, flipBit(r.next, 0)), 'ERR_COMMITMENT_INVALID');
  // a wrong key in the middle of a prefix breaks the next link
  const { root, reveals } = allReveals(bids);
  const bad = reveals.map((x) => ({ ...x }));
  (bad[1] as BidReveal).next = flipBit((bad[1] as BidReveal).next, 3);
  assert.not.ok(verifyPrefix(root, bad.slice(0, 2)));
});

test('revealing past k is refused', () => {
  const two = bids.slice(0, 2);
  const c = commitBids(two);
  const v = new RevealVerifier(c.root, c.k);
  for (let i = 1; i <= 2; i++) {
    const r = revealAt(c, two, i);
    v.next(r.bid, r.next);
  }
  assert.ok(v.exhausted);
  // whatever comes after the k-th bid is refused and the state stays at k
  throwsCode(() => v.next({ price: 1 }, new Uint8Array(32)), 'ERR_COMMITMENT_INVALID');
  assert.is(v.index, 2);
  throwsCode(() => revealAt(c, two, 3), 'ERR_COMMITMENT_INVALID');
  throwsCode(() => revealAt(c, two, 0), 'ERR_COMMITMENT_INVALID');
  // a prefix longer than the signed k is refused even when every link holds
  const three = bids.slice(0, 3);
  const c3 = commitBids(three);
  const reveals3 = three.map((_, i) => revealAt(c3, three, i + 1));
  assert.ok(verifyPrefix(c3.root, reveals3, 3));
  assert.not.ok(verifyPrefix(c3.root, reveals3, 2));
  throwsCode(() => assertPrefix(c3.root, reveals3, 2), 'ERR_COMMITMENT_INVALID');
  // the verifier for a chain signed with k = 2 stops after two bids of a longer chain
  const v2 = new RevealVerifier(c3.root, 2);
  for (const r of reveals3.slice(0, 2)) v2.next(r.bid, r.next);
  const r3 = reveals3[2] as BidReveal;
  throwsCode(() => v2.next(r3.bid, r3.next), 'ERR_COMMITMENT_INVALID');
});

test('a key-order-changed but equal JSON object still verifies (RFC 8785)', () => {
  const c = commitBids([{ price: 1200, delivery: { days: 5, mode: 'air' }, warrantyMonths: 24, tags: ['a', 'b'] }]);
  const reordered = { tags: ['a', 'b'], warrantyMonths: 24, delivery: { mode: 'air', days: 5 }, price: 1200 };
  assert.ok(verifyReveal(c.root, reordered, c.keys[1] as Uint8Array));
  // 1200.0 from a JSON text is the same number as 1200
  assert.ok(verifyReveal(c.root, JSON.parse('{"price":1200.0,"warrantyMonths":24,"delivery":{"days":5,"mode":"air"},"tags":["a","b"]}'), c.keys[1] as Uint8Array));
  // but array order is significant
  assert.not.ok(verifyReveal(c.root, { ...reordered, tags: ['b', 'a'] }, c.keys[1] as Uint8Array));
});

test('verifiers return false and never throw on attacker-shaped input', () => {
  const c = commitBids(bids);
  const junk: unknown[] = [undefined, null, 1, 'x', {}, [], new Uint8Array(31), new Uint8Array(33), { bid: 1 }, [{ bid: 1, next: 'x' }]];
  for (const j of junk) {
    assert.not.ok(verifyReveal(j as Uint8Array, bids[0] as JsonValue, c.keys[1] as Uint8Array));
    assert.not.ok(verifyReveal(c.root, bids[0] as JsonValue, j as Uint8Array));
    assert.not.ok(verifyPrefix(c.root, j as BidReveal[]));
    assert.not.ok(verifyPrefix(j as Uint8Array, [revealAt(c, bids, 1)]));
  }
  // bids that are not JSON
  assert.not.ok(verifyReveal(c.root, { price: NaN } as JsonValue, c.keys[1] as Uint8Array));
  assert.not.ok(verifyReveal(c.root, { price: 1n } as unknown as JsonValue, c.keys[1] as Uint8Array));
  assert.not.ok(verifyPrefix(c.root, []), 'an empty prefix proves nothing');
  throwsCode(() => assertPrefix(c.root, []), 'ERR_COMMITMENT_INVALID');
  const v = new RevealVerifier(c.root, c.k);
  throwsCode(() => v.next(undefined as unknown as JsonValue, c.keys[1] as Uint8Array), 'ERR_COMMITMENT_INVALID');
  throwsCode(() => v.next(bids[0] as JsonValue, 'abc' as unknown as Uint8Array), 'ERR_COMMITMENT_INVALID');
});

test('argument checks: bounds, non-JSON bids, wrong types', () => {
  throwsCode(() => commitBids([]), 'ERR_INVALID_INPUT');
  throwsCode(() => commitBids(new Array(MAX_BIDS + 1).fill(1)), 'ERR_INVALID_INPUT');
  throwsCode(() => commitBids([{ a: 1 }, { a: undefined } as unknown as JsonValue]), 'ERR_INVALID_INPUT');
  assert.throws(() => commitBids('x' as unknown as JsonValue[]), TypeError);
  assert.throws(() => bidLink({}, new Uint8Array(16)), TypeError);
  assert.throws(() => new RevealVerifier(new Uint8Array(31), 1), TypeError);
  assert.throws(() => new RevealVerifier(new Uint8Array(32), 1.5), TypeError);
  throwsCode(() => new RevealVerifier(new Uint8Array(32), 0), 'ERR_INVALID_INPUT');
  throwsCode(() => new RevealVerifier(new Uint8Array(32), MAX_BIDS + 1), 'ERR_INVALID_INPUT');
  const c = commitBids(bids);
  // revealAt refuses a list other than the committed one
  throwsCode(() => revealAt(c, [bids[1], bids[0], bids[2], bids[3]] as JsonValue[], 1), 'ERR_COMMITMENT_INVALID');
  throwsCode(() => revealAt(c, bids.slice(0, 3), 1), 'ERR_INVALID_INPUT');
});

test('the verifier keeps its own copies: later changes to the caller objects do not alter the proof', () => {
  const c = commitBids(bids);
  const v = new RevealVerifier(c.root, c.k);
  const r = revealAt(c, bids, 1);
  const bid = JSON.parse(JSON.stringify(r.bid)) as Record<string, JsonValue>;
  const next = r.next.slice();
  v.next(bid, next);
  bid.price = 1;
  next.fill(0);
  assert.ok(verifyPrefix(c.root, v.prefix()));
  const p = v.prefix();
  (p[0] as BidReveal).next.fill(1);
  assert.ok(verifyPrefix(c.root, v.prefix()));
});

test('wire encoding: base64url keys round-trip and malformed reveals are refused', () => {
  const c = commitBids(bids);
  const r = revealAt(c, bids, 1);
  const wire = revealToWire(r);
  assert.type(wire.next, 'string');
  assert.match(wire.next, /^[A-Za-z0-9_-]{43}$/);
  const back = revealFromWire(JSON.parse(JSON.stringify(wire)));
  assert.ok(verifyReveal(keyFromB64u(keyToB64u(c.root)), back.bid, back.next));
  throwsCode(() => keyFromB64u(keyToB64u(c.root).slice(0, 40)), 'ERR_ENCODING');
  throwsCode(() => keyFromB64u('AAAA'), 'ERR_ENCODING');
  throwsCode(() => keyFromB64u(keyToB64u(c.root) + '='), 'ERR_ENCODING');
  throwsCode(() => revealFromWire({ bid: 1 }), 'ERR_INVALID_INPUT');
  throwsCode(() => revealFromWire({ bid: 1, next: wire.next, extra: 1 }), 'ERR_INVALID_INPUT');
  throwsCode(() => revealFromWire({ bid: 1, next: 5 }), 'ERR_INVALID_INPUT');
  throwsCode(() => revealFromWire(null), 'ERR_INVALID_INPUT');
  throwsCode(() => revealFromWire({ bid: 1, next: '!!' }), 'ERR_ENCODING');
});

test.run();
