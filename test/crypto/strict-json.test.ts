/**
 * The strict JSON parser: duplicate keys refused at any depth (also when one of them is
 * written with escapes), everything else read as JSON.parse reads it; the wire boundary and
 * JWS headers use it. fast-check: any JSON value's text, canonical or pretty-printed, parses
 * back to the same value; a text with one key repeated is always refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { throwsCode } from '../helpers/assert.js';
import { parseStrictJson, parseStrictJsonBytes } from '../../crypto/strict-json.js';
import { canonicalJson } from '../../crypto/canonical.js';
import { parseJson } from '../../protocol/wire.js';
import { utf8 } from '../../crypto/bytes.js';

const test = suite('strict JSON');

test('duplicate keys are refused at the top level, nested, in arrays, and written with escapes', () => {
  const dup = [
    '{"price":1,"price":1050}',
    '{"a":{"b":1,"c":2,"b":3}}',
    '[1,{"x":[{"k":1},{"k":2,"k":2}]}]',
    '{"price":1,"pr\\u0069ce":1050}',
    '{"\\"":1,"\\u0022":2}',
    '{"a":1 , "b":{"a":1}, "a" : 2}',
  ];
  for (const t of dup) throwsCode(() => parseStrictJson(t), 'ERR_JSON_DUPLICATE_KEY', t);
  // the path in the message names where the object is
  try {
    parseStrictJson('{"terms":{"list":[0,{"p":1,"p":2}]}}');
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /"p".*\$\.terms\.list\[1\]/);
  }
});

test('texts without a repeated key read as JSON.parse reads them', () => {
  const ok = ['{"a":1,"b":{"a":1},"c":[{"a":2},{"a":3}]}', '{"a\\"b":1,"a":2,"b\\\\":"\\"x\\"\\\\"}', '{"k":"a,b,\\"k\\":1"}', '[]', '"s"', '1', 'null', '{"":1,"\\u0000":2}'];
  for (const t of ok) assert.equal(parseStrictJson(t), JSON.parse(t), t);
  throwsCode(() => parseStrictJson('{"a":1,}'), 'ERR_INVALID_INPUT');
  throwsCode(() => parseStrictJsonBytes(new Uint8Array([0x7b, 0xff, 0x7d])), 'ERR_ENCODING');
  // a leading byte-order mark is dropped from bytes (a JWS payload refuses it separately); in text it is not JSON
  assert.equal(parseStrictJsonBytes(utf8('\ufeff{"a":1}')), { a: 1 });
  throwsCode(() => parseStrictJson('\ufeff{"a":1}'), 'ERR_INVALID_INPUT');
});

test('the wire boundary refuses repeated keys with their own code', () => {
  throwsCode(() => parseJson(utf8('{"ok":true,"body":{"sn":"a","sn":"b"}}')), 'ERR_JSON_DUPLICATE_KEY');
  throwsCode(() => parseJson(utf8('{"ok":true')), 'ERR_MALFORMED_MESSAGE');
  assert.equal(parseJson(utf8('{"ok":true,"body":{"sn":"a"}}')), { ok: true, body: { sn: 'a' } });
});

const json = fc.jsonValue({ maxDepth: 6 });

test('fuzz: canonical and pretty-printed texts of any JSON value parse back to it', () => {
  fc.assert(
    fc.property(json, (v) => {
      const value = JSON.parse(JSON.stringify(v)) as unknown; // -0 becomes 0, as on the wire
      assert.equal(parseStrictJson(canonicalJson(value)), value);
      assert.equal(parseStrictJson(JSON.stringify(value, null, 2)), value);
    }),
    { numRuns: 300 },
  );
});

test('fuzz: an object with one key written twice is always refused', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), json, { minKeys: 1, maxKeys: 6 }), fc.nat(), json, (o, pick, again) => {
      const keys = Object.keys(o);
      const k = keys[pick % keys.length]!;
      const text = JSON.stringify(o).slice(0, -1) + `,${JSON.stringify(k)}:${JSON.stringify(again)}}`;
      throwsCode(() => parseStrictJson(`{"outer":[${text}]}`), 'ERR_JSON_DUPLICATE_KEY');
    }),
    { numRuns: 300 },
  );
});

test.run();
