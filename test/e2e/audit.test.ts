/**
 * The Agent Home's audit log (agent-home/audit.ts): a normal session leaves every state
 * change in order, as signed records each linked to the one before, and `parley home audit
 * --verify` accepts it; two Agent Home processes appending at once never fork the chain and
 * an append repeated with the same message id is stored once; and a record altered,
 * reordered, deleted from the stream or slipped into it is caught at its own position.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { worldSuite, negotiated, eventually } from '../helpers/world.js';
import { parleySync } from '../helpers/cli.js';
import { AUDIT_STREAM, AuditLog, auditSubject, AUDIT_TYPE, readAuditLog, verifyAuditLog, type AuditEntry, type AuditRecord } from '../../agent-home/audit.js';
import { canonicalBytes } from '../../crypto/canonical.js';
import { signObject, type SignedObject } from '../../crypto/signed.js';
import { generateIdentityKey } from '../../crypto/ed25519.js';

const test = suite('audit log');
const world = worldSuite(test, { stores: ['store-a.json', 'store-b.json'] });

const body = (e: AuditEntry) => (JSON.parse(new TextDecoder().decode(e.raw!)) as SignedObject<AuditRecord>).body;
const entries = async () => readAuditLog(await (await world.nats.connect('audit-reader')).jetstreamManager());

test('a normal session leaves every state change, in order, in a log that verifies', async () => {
  const { client } = await world.buyer('ann');
  const { session, results } = await negotiated(client);
  const [first, second] = results.agreements.map((a) => a.merchant);
  await client.sign(session.sn, first!); // optimistic: no Agent Home state changes
  const x = await client.prepare(session.sn, second!);
  await client.abort(x.contractId);
  // the Invite Agent's home-coming is logged just after the session shows it
  const log = await eventually('the whole session logged', async () => {
    const all = await entries();
    return all.some((e) => body(e).event === 'abort') && all.some((e) => body(e).event === 'invite-home') ? all : undefined;
  });
  assert.equal(verifyAuditLog(log, world.homeSelf.publicKey), { ok: true, records: log.length });
  const events = log.map(body);
  assert.equal(events.map((r) => r.seq), log.map((_, i) => i + 1));
  assert.equal(events.filter((r) => r.event === 'merchant-registered').map((r) => r.details.merchant).sort(), ['shop-a', 'shop-b']);
  const mine = events.filter((r) => r.sn === session.sn).map((r) => r.event);
  assert.equal(mine.slice(0, 3), ['escrow-stored', 'session-opened', 'invite-sent']);
  assert.equal(mine.filter((e) => e === 'negotiation').length, 2);
  assert.equal(mine.filter((e) => e === 'agreement').length, 2);
  assert.ok(mine.indexOf('invite-home') > 2 && mine[mine.length - 1] === 'abort', mine.join(', '));
  const opened = events.find((r) => r.event === 'session-opened' && r.sn === session.sn)!;
  assert.equal(opened.details, { buyer: 'ann', item: 'laptop-pro-14', category: 'laptops', quantity: 2, currency: 'EUR', deadline: session.deadline, signBy: opened.details.signBy! });
  assert.not.match(JSON.stringify(events), /"(d2|rules|sg1?|sealed)"|reservation|weights/, 'no secret in the log');

  // the command an arbiter runs, as a person reads it
  const files = world.pki.writeFiles(world.dir, world.homeSelf);
  const r = parleySync(['home', 'audit', '--verify', '--ca', files.ca, '--cert', files.cert, '--nats', world.nats.url, '--home', join(world.dir, 'cli')]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`#${log.length} .*abort`));
  assert.match(r.stdout, /audit log verified: \d+ records, every signature and link holds/);
});

test('two Agent Home processes appending at once never fork the chain; a repeated append is stored once', async () => {
  const [a, b] = await Promise.all([AuditLog.open(await world.nats.connect('ah-1'), world.homeSelf), AuditLog.open(await world.nats.connect('ah-2'), world.homeSelf)]);
  const before = (await entries()).length;
  await Promise.all([
    ...Array.from({ length: 15 }, (_, i) => a.append('invite-lost', `a${i}`, { agent: `a${i}`, unreached: [] })),
    ...Array.from({ length: 15 }, (_, i) => b.append('invite-lost', `b${i}`, { agent: `b${i}`, unreached: [] })),
    a.append('invite-lost', 'b3', { agent: 'b3', unreached: [] }), // the same change, from the other process
  ]);
  const log = await entries();
  assert.is(log.length, before + 30);
  assert.equal(verifyAuditLog(log, world.homeSelf.publicKey), { ok: true, records: log.length });
  assert.throws(() => a.append('escrow-stored', 'x', { d2: 'AQAB' }), /secrets never go into the audit log/);
});

test('a record altered, reordered, deleted or slipped in is caught at its own position', async () => {
  const pk = world.homeSelf.publicKey;
  const log = await entries();
  const k = 5;
  // altered: another detail under the same signature
  const altered = log.map((e) => {
    if (e.seq !== k) return e;
    const o = JSON.parse(new TextDecoder().decode(e.raw!)) as SignedObject<AuditRecord>;
    return { seq: e.seq, raw: canonicalBytes({ ...o, body: { ...o.body, at: new Date(0).toISOString() } }) };
  });
  assert.equal(verifyAuditLog(altered, pk).firstBroken, { seq: k, reason: "signature is not the Agent Home's" });
  // reordered: two records swapped
  const swapped = log.map((e) => (e.seq === k ? { seq: k, raw: log[k]!.raw } : e.seq === k + 1 ? { seq: k + 1, raw: log[k - 1]!.raw } : e));
  assert.is(verifyAuditLog(swapped, pk).firstBroken?.seq, k);
  // re-signed with another key (someone without the Agent Home's key rewriting the log)
  const forged = signObject(AUDIT_TYPE, body(log[k - 1]!), generateIdentityKey().secretKey);
  assert.is(verifyAuditLog(log.map((e) => (e.seq === k ? { seq: k, raw: canonicalBytes(forged) } : e)), pk).firstBroken?.seq, k);

  // in the stream itself: a record slipped in at the end, then one deleted from the middle
  const nc = await world.nats.connect('tamper');
  const ack = await nc.jetstream().publish(auditSubject('home'), canonicalBytes(forged));
  assert.equal(verifyAuditLog(await entries(), pk).firstBroken, { seq: ack.seq, reason: "signature is not the Agent Home's" });
  await (await nc.jetstreamManager()).streams.deleteMessage(AUDIT_STREAM, k);
  assert.equal(verifyAuditLog(await entries(), pk).firstBroken, { seq: k, reason: 'record missing (deleted from the stream)' });
});

test.run();
