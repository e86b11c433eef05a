/**
 * Parley's request path (agents/transport/requests.ts) and the wire call on it
 * (agents/transport/rpc.ts), on a real nats-server: replies reach the request they answer,
 * nobody listening is ERR_UNAVAILABLE at once, silence is ERR_TIMEOUT, a late reply is
 * dropped, a closing connection fails what still waits, and requests made by separate
 * callbacks in one turn of the event loop leave together. (A publish the server refuses is
 * covered by test/security/broker.test.ts.)
 */
import { readFileSync } from 'node:fs';
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

/** Write system calls this process has made so far (Linux). */
const writeCalls = () => Number(/^syscw: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);

test('requests made by separate callbacks in one turn leave in one socket write', async () => {
  const server = await nats.connect('responder-4');
  const client = await nats.connect('client-4');
  server.subscribe('echo.batch', { callback: (_e, m) => m.respond(m.data) });
  await server.flush();
  const requests = Requests.for(client);
  // a chain of 40 microtasks, each making a request: published one by one, each would be
  // written to the socket by itself (nats.js writes what was published within a microtask)
  const before = writeCalls();
  const sent: Array<Promise<unknown>> = [];
  let chain = Promise.resolve();
  for (let i = 0; i < 40; i++) chain = chain.then(() => void sent.push(requests.request('echo.batch', encodeJson({ i }), 5000)));
  await chain;
  const replies = await Promise.all(sent);
  const writes = writeCalls() - before;
  assert.is(replies.length, 40);
  // the requests' write, and the replies' (the responder answers what it reads at once)
  assert.ok(writes <= 10, `${writes} write calls for 40 requests and their replies`);
});

test.run();
