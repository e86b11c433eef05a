/**
 * Parley's request path (agents/transport/requests.ts) and the wire call on it
 * (agents/transport/rpc.ts), on a real nats-server: replies reach the request they answer,
 * nobody listening is ERR_UNAVAILABLE at once, silence is ERR_TIMEOUT, a late reply is
 * dropped, and a closing connection fails what still waits. (A publish the server refuses
 * is covered by test/security/broker.test.ts.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { natsSuite } from '../helpers/nats.js';
import { rejectsCode } from '../helpers/assert.js';
import { RequestError, Requests, replyStatus, NO_RESPONDERS } from '../../agents/transport/requests.js';
import { call } from '../../agents/transport/rpc.js';
import { encodeJson, okReply } from '../../protocol/wire.js';

const test = suite('requests');
const nats = natsSuite(test);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

test('concurrent requests each get their own reply; a status comes back as the reply', async () => {
  const server = await nats.connect('responder');
  const client = await nats.connect('client');
  // answers in reverse order of arrival, so a reply can only find its request by its token
  const held: Array<() => void> = [];
  server.subscribe('echo.slow', {
    callback: (_e, m) => {
      held.push(() => m.respond(m.data));
      if (held.length === 20) for (const r of held.reverse()) r();
    },
  });
  await server.flush();
  const requests = Requests.for(client);
  assert.is(Requests.for(client), requests, 'one per connection');
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => requests.request('echo.slow', encodeJson({ i }), 5000)));
  assert.equal(replies.map((r) => JSON.parse(text(r.data)).i), Array.from({ length: 20 }, (_, i) => i));
  // nobody listening: the server's 503 status arrives in place of a reply
  const none = await requests.request('nobody.here', new Uint8Array(), 5000);
  assert.is(replyStatus(none)?.code, NO_RESPONDERS);
});

test('wire calls: a reply decoded, nobody listening at once, silence after its time, a late reply dropped', async () => {
  const server = await nats.connect('responder-2');
  const client = await nats.connect('client-2');
  server.subscribe('svc.ok', { callback: (_e, m) => m.respond(okReply({ n: 7 })) });
  let late: (() => void) | undefined;
  server.subscribe('svc.silent', { callback: (_e, m) => (late = () => m.respond(okReply({ n: 1 }))) });
  await server.flush();
  assert.equal(await call(client, 'svc.ok', {}, z.object({ n: z.number() })), { n: 7 });
  let t = Date.now();
  await rejectsCode(() => call(client, 'svc.nobody', {}, z.unknown(), 5000), 'ERR_UNAVAILABLE');
  assert.ok(Date.now() - t < 2000, 'no waiting for the timeout');
  t = Date.now();
  await rejectsCode(() => call(client, 'svc.silent', {}, z.unknown(), 300), 'ERR_TIMEOUT');
  assert.ok(Date.now() - t >= 290, 'waited its time');
  // the reply that comes after the timeout finds nobody waiting; the next call is unaffected
  late!();
  await client.flush();
  assert.equal(await call(client, 'svc.ok', {}, z.object({ n: z.number() })), { n: 7 });
});

test('a connection that closes fails the requests still waiting', async () => {
  const server = await nats.connect('responder-3');
  const client = await nats.connect('client-3');
  server.subscribe('svc.never', { callback: () => undefined });
  await server.flush();
  const waiting = Requests.for(client).request('svc.never', new Uint8Array(), 10_000);
  await client.flush();
  const t = Date.now();
  await client.close();
  const err = await waiting.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, RequestError);
  assert.is((err as RequestError).reason, 'closed');
  assert.ok(Date.now() - t < 2000);
});

test.run();
