/** RFC 8785 canonical JSON: the RFC's own examples, and refusal of everything that is not plain JSON. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import canonicalize from 'canonicalize';
import { canonicalBytes, canonicalJson, MAX_JSON_DEPTH } from '../../crypto/canonical.js';
import { throwsCode } from '../helpers/assert.js';

function fromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt('0x' + hex));
  return view.getFloat64(0);
}

test('RFC 8785 §3.2.2/§3.2.3: the sample object, parsed from its JSON text', () => {
  const input = String.raw`{
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  }`;
  const want = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
  assert.is(canonicalJson(JSON.parse(input)), want);
  // §3.2.4: the hashed form is the UTF-8 of that text (€ is e2 82 ac)
  const bytes = canonicalBytes(JSON.parse(input));
  assert.equal(bytes, new TextEncoder().encode(want));
  assert.ok(Buffer.from(bytes).toString('hex').includes('e282ac'));
});

test('RFC 8785 §3.2.3: keys sorted by UTF-16 code units, not code points or locale', () => {
  const value = {
    '\u20ac': 'Euro Sign',
    '\r': 'Carriage Return',
    '\ufb33': 'Hebrew Letter Dalet With Dagesh',
    '1': 'One',
    '\ud83d\ude00': 'Emoji: Grinning Face',
    '\u0080': 'Control',
    '\u00f6': 'Latin Small Letter O With Diaeresis',
  };
  // U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16, though after it by code point.
  // (Object.keys cannot show this: JavaScript lists integer-like keys such as "1" first.)
  const want =
    String.raw`{"\r":"Carriage Return","1":"One",` +
    '"\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
    '"\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}';
  assert.is(canonicalJson(value), want);
  // Appendix: French words in UTF-16 order, whatever a locale would say
  const french = { sin: 4, 'pêche': 3, 'péché': 2, peach: 1 };
  assert.is(canonicalJson(french), '{"peach":1,"péché":2,"pêche":3,"sin":4}');
  // nested objects are sorted too; arrays keep their order
  assert.is(canonicalJson({ b: [3, 1, { z: 1, y: 2 }], a: {} }), '{"a":{},"b":[3,1,{"y":2,"z":1}]}');
});

test('RFC 8785 Appendix B: number serialisation', () => {
  const vectors: [string, string][] = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'], // -0
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  for (const [bits, want] of vectors) assert.is(canonicalJson(fromBits(bits)), want, bits);
  assert.is(canonicalJson(1e21), '1e+21');
  assert.is(canonicalJson(1e20), '100000000000000000000');
  assert.is(canonicalJson(-0), '0');
  assert.is(canonicalJson({ a: -0, b: [-0] }), '{"a":0,"b":[0]}');
  assert.is(canonicalJson(1e-7), '1e-7');
  assert.is(canonicalJson(JSON.parse('1.0')), '1');
});

test('string escapes: only the RFC 8785 set, lowercase hex, everything else raw', () => {
  const s = '"\\/\b\f\n\r\t\u0000\u001f\u007f\u2028é😀';
  assert.is(canonicalJson(s), String.raw`"\"\\/\b\f\n\r\t\u0000\u001f` + '\u007f\u2028é😀"');
  assert.is(canonicalJson({ '\n': 1 }), String.raw`{"\n":1}`);
});

test('refuses undefined, NaN, ±Infinity, bigint, functions, symbols', () => {
  const bad: unknown[] = [
    undefined,
    NaN,
    Infinity,
    -Infinity,
    10n,
    () => 1,
    Symbol('s'),
    { a: undefined },
    [undefined],
    [1, , 3], // a hole reads as undefined
    { a: NaN },
    { a: [Infinity] },
    { a: 1n },
    { a: () => 1 },
    { toJSON: () => 'x' },
  ];
  for (const v of bad) throwsCode(() => canonicalJson(v), 'ERR_INVALID_INPUT', String(typeof v));
});

test('refuses class instances (Date, Map, Uint8Array, custom classes)', () => {
  class Bid {
    price = 1;
  }
  for (const v of [new Date(0), new Map(), new Set(), new Uint8Array(1), new Bid(), { a: new Date(0) }, Object.create({ inherited: 1 })]) {
    throwsCode(() => canonicalJson(v), 'ERR_INVALID_INPUT');
  }
  // an object without prototype is plain JSON
  const bare = Object.create(null) as Record<string, number>;
  bare.b = 2;
  bare.a = 1;
  assert.is(canonicalJson(bare), '{"a":1,"b":2}');
});

test('refuses cycles, but accepts a shared (acyclic) sub-object', () => {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  throwsCode(() => canonicalJson(o), 'ERR_INVALID_INPUT');
  const arr: unknown[] = [1];
  arr.push([arr]);
  throwsCode(() => canonicalJson(arr), 'ERR_INVALID_INPUT');
  const shared = { x: 1 };
  assert.is(canonicalJson({ a: shared, b: [shared, shared] }), '{"a":{"x":1},"b":[{"x":1},{"x":1}]}');
});

test('refuses nesting deeper than MAX_JSON_DEPTH', () => {
  const nest = (n: number, inner: unknown): unknown => {
    let v = inner;
    for (let i = 0; i < n; i++) v = [v];
    return v;
  };
  assert.is(canonicalJson(nest(MAX_JSON_DEPTH, 1)), '['.repeat(MAX_JSON_DEPTH) + '1' + ']'.repeat(MAX_JSON_DEPTH));
  throwsCode(() => canonicalJson(nest(MAX_JSON_DEPTH + 1, 1)), 'ERR_INVALID_INPUT');
  throwsCode(() => canonicalJson(nest(10_000, null)), 'ERR_INVALID_INPUT');
  let deepObj: unknown = 0;
  for (let i = 0; i < MAX_JSON_DEPTH + 1; i++) deepObj = { k: deepObj };
  throwsCode(() => canonicalJson(deepObj), 'ERR_INVALID_INPUT');
});

test('refuses lone surrogates (RFC 8785 §3.1 requires I-JSON), in values and keys', () => {
  for (const v of ['\ud800', 'a\udc00b', '\ude00\ud83d', { '\ud83d': 1 }, ['ok', { k: '\udfff' }]]) {
    throwsCode(() => canonicalJson(v), 'ERR_INVALID_INPUT');
  }
  assert.is(canonicalJson('\ud83d\ude00'), '"😀"');
});

test('canonicalBytes is the UTF-8 of canonicalJson; equal values give equal bytes', () => {
  const a = { price: 1200, terms: { days: 5, note: 'Zürich' } };
  const b = JSON.parse('{"terms":{"note":"Z\\u00fcrich","days":5.0},"price":1.2e3}');
  assert.equal(canonicalBytes(a), canonicalBytes(b));
  assert.equal(canonicalBytes(a), new TextEncoder().encode(canonicalJson(a)));
});

test('agrees with the canonicalize package (an independent RFC 8785 implementation) on arbitrary JSON', () => {
  // 'binary' strings are any well-formed UTF-16: escapes, controls, astral characters
  const json = fc.jsonValue({ maxDepth: 6, stringUnit: 'binary' });
  fc.assert(
    fc.property(json, (v) => {
      assert.is(canonicalJson(v), canonicalize(v));
    }),
    { numRuns: 2000 },
  );
  for (const v of [-0, [-0], { '': 1, a: '"\\\u2028\u0000\u001f\u007f' }, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, { __proto__: null, b: 1 }]) {
    assert.is(canonicalJson(v), canonicalize(v));
  }
});

test('key order and key quoting agree with canonicalize for objects of up to 40 keys, keys seen again included', () => {
  // short keys over a small alphabet repeat across objects (the quoted-key cache) and often
  // share prefixes; the counts cross the size where sorting changes method
  const key = fc.string({ unit: fc.constantFrom('a', 'b', 'Z', '1', '\u00e9', '\ud83d\ude00', '"', '\n', '\u0000'), maxLength: 4 });
  const obj = fc.dictionary(key, fc.jsonValue({ maxDepth: 2 }), { minKeys: 0, maxKeys: 40 });
  fc.assert(
    fc.property(fc.array(obj, { maxLength: 4 }), (objs) => {
      for (const o of objs) assert.is(canonicalJson(o), canonicalize(o));
    }),
    { numRuns: 500 },
  );
  // a key refused once is refused again (it was not kept as quoted)
  for (let i = 0; i < 2; i++) throwsCode(() => canonicalJson({ a: 1, '\udc00': 2 }), 'ERR_INVALID_INPUT');
  // a long key is quoted the same way whether or not it is kept
  const long = 'k'.repeat(100) + '"';
  assert.is(canonicalJson({ [long]: 1 }), canonicalJson({ [long]: 1 }));
  assert.is(canonicalJson({ [long]: 1 }), canonicalize({ [long]: 1 }));
});

test.run();
