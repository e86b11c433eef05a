/**
 * Signed requests: the wire schema of each (type, body schema) is built once and reused,
 * and the reused schema still holds a request to its own type, body and strictness.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { throwsCode } from '../helpers/assert.js';
import { testPki, type TestPki } from '../helpers/parties.js';
import { openRequest, signedRequestSchema, signRequest } from '../../protocol/signed-request.js';
import { encodeJson } from '../../protocol/wire.js';
import type { Self } from '../../agents/runtime/trust.js';

const PingSchema = z.strictObject({ n: z.number().int() });
const EchoSchema = z.strictObject({ text: z.string().max(10) });

const test = suite('signed requests');
let pki: TestPki;
let buyer: Self;
test.before(async () => {
  pki = await testPki();
  buyer = await pki.party('b1', 'buyer');
});

const open = (type: string, schema: z.ZodObject, data: Uint8Array) => openRequest(type, schema, data, { trust: pki.trust, roles: ['buyer'], audience: 'home' });

test('the wire schema of a request type is built once', () => {
  assert.is(signedRequestSchema('ping', PingSchema), signedRequestSchema('ping', PingSchema));
  assert.is.not(signedRequestSchema('ping', PingSchema), signedRequestSchema('pong', PingSchema));
  assert.is.not(signedRequestSchema('ping', PingSchema), signedRequestSchema('ping', EchoSchema));
});

test('a reused schema still checks type, body and extra fields, request after request', () => {
  for (let i = 0; i < 3; i++) {
    const ping = signRequest('ping', { n: i }, 'home', buyer);
    assert.is(open('ping', PingSchema, encodeJson(ping)).body.n, i);
    // the same body schema under another type: the type is part of the schema
    throwsCode(() => open('pong', PingSchema, encodeJson(ping)), 'ERR_SCHEMA', 'other type');
    // another body schema under the same type
    throwsCode(() => open('ping', EchoSchema, encodeJson(ping)), 'ERR_SCHEMA', 'other body');
    const extra = { ...ping, req: { ...ping.req, body: { ...ping.req.body, extra: true } } };
    throwsCode(() => open('ping', PingSchema, encodeJson(extra)), 'ERR_SCHEMA', 'extra field');
  }
});

test.run();
