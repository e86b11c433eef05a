/**
 * The wiretap (bench/limit-count.ts) tells who sent each message, so that the limit can be
 * split by role: requests asked and answered, plain publishes and JetStream writes, each
 * counted for the party whose connection sent it. On a real nats-server.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { natsSuite } from '../helpers/nats.js';
import { Wiretap } from '../../bench/limit-count.js';
import { Requests } from '../../agents/transport/requests.js';
import { JetStreamReplies } from '../../agents/storage/js-replies.js';

const t = suite('wiretap parties');
const srv = natsSuite(t);

t('each message is counted for the party that sent it', async () => {
  const who = new AsyncLocalStorage<string>();
  const tap = new Wiretap(await srv.connect('tap'), new Set());
  const restore = tap.attribute(() => who.getStore() ?? '(none)');
  try {
    await tap.start();
    const alice = await who.run('alice', () => srv.connect('alice'));
    const bob = await who.run('bob', () => srv.connect('bob'));
    await who.run('bob', async () => {
      bob.subscribe('svc.echo', { callback: (_e, m) => m.respond(m.data) });
      await bob.flush();
    });
    const jsm = await alice.jetstreamManager();
    await jsm.streams.add({ name: 'TAPTEST', subjects: ['taptest.>'] });
    await who.run('alice', async () => {
      const req = Requests.for(alice);
      for (let i = 0; i < 3; i++) await req.request('svc.echo', new TextEncoder().encode(`hi ${i}`), 5000);
      alice.publish('events.x', new Uint8Array([1]));
      await new JetStreamReplies(alice, 'stream TAPTEST').publish('taptest.a', new Uint8Array([2]));
      await alice.flush();
    });
    await tap.quiet(200);
    const w = tap.counts();
    const a = w.byParty.get('alice');
    const b = w.byParty.get('bob');
    assert.ok(a && b, `parties seen: ${[...w.byParty.keys()].join(', ')}`);
    assert.is(a.requests, 3);
    assert.is(b.answered, 3);
    assert.is(a.publishes, 1);
    assert.is(a.jsWrites, 1);
    assert.is(b.requests, 0);
  } finally {
    restore();
    tap.stop();
  }
});

t.run();
