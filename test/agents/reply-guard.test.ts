/** Which reply subjects a responder answers on: exactly the requester's own inbox. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { inboxOwner, isInboxOf, ReplyRefusals } from '../../agents/transport/reply-guard.js';

const test = suite('reply guard');

test("a requester's own inbox, and nothing that merely resembles it", () => {
  assert.ok(isInboxOf('_INBOX_alice.Yb3kQ9.7', 'alice'));
  assert.ok(isInboxOf('_INBOX_alice.Yb3kQ9', 'alice'));
  for (const reply of ['_INBOX_alicex.a', '_INBOX_alic.a', '_INBOX_alice', '_INBOX_alice.', '_INBOX_alice.*', '_INBOX_alice.>', '_INBOX_alice.a..b', '_INBOX.a', '$KV.parley_escrow.x', 'parley.v1.home.home.key', '_INBOX_bob.a', undefined, '']) {
    assert.not.ok(isInboxOf(reply, 'alice'), String(reply));
  }
  assert.not.ok(isInboxOf('_INBOX_a.b', 'A'), 'not a party id');
  assert.is(inboxOwner('_INBOX_shop-a.x.1'), 'shop-a');
  assert.is(inboxOwner('$JS.API.STREAM.PURGE.KV_parley_escrow'), undefined);
  assert.is(inboxOwner('_INBOX.x'), undefined, "the Agent Home's JetStream inbox is nobody's to be answered on");
});

test('each refusal is counted per subject and logged with the reply subject escaped', () => {
  const lines: string[] = [];
  const r = new ReplyRefusals((l) => lines.push(l));
  assert.ok(r.allow('key', '_INBOX_bob.1'));
  assert.ok(r.allow('notify', '_INBOX_alice.1', 'alice'));
  assert.ok(r.allow('arrive', '_INBOX_home.1', ['shop-a', 'home']));
  assert.not.ok(r.allow('notify', '_INBOX_bob.1', 'alice'));
  assert.not.ok(r.allow('notify', '$KV.x\n.y', 'alice'));
  assert.not.ok(r.allow('key', undefined));
  assert.equal(Object.fromEntries(r.counts), { notify: 2, key: 1 });
  assert.is(r.total, 3);
  assert.is(lines.length, 3);
  assert.ok(lines[1]!.includes('"$KV.x\\n.y"') && !lines[1]!.includes('\n'), lines[1]);
  assert.ok(lines.every((l) => l.includes('ERR_REPLY_SUBJECT')));
});

test.run();
