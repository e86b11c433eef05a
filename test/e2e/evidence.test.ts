/**
 * The arbiter's evidence file (issue 19): a session with one exchange resolved by the Agent
 * Home and one aborted is exported by `buildEvidence` (what `parley home evidence` runs) and
 * `parley verify FILE --ca` accepts it offline; removing, reordering, slipping in or editing
 * any record, or touching the audit chain, is reported with the record named and exit 3. No
 * secret is in the file: neither the escrowed d2 nor the buyer's rules.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { worldSuite, negotiated, exampleRules } from '../helpers/world.js';
import { jsonOf, parleySync } from '../helpers/cli.js';
import { tempDir } from '../helpers/paths.js';
import { restoreKey } from '../../buyer-cli/session-key.js';
import { bigintToB64u } from '../../crypto/bytes.js';
import { canonicalJson } from '../../crypto/canonical.js';
import { merchantProtected, signMerchant } from '../../crypto/jws.js';
import { parseCertificate } from '../../crypto/x509/index.js';
import { RESOLVE_TYPE, ResolveReplySchema } from '../../protocol/exchange.js';
import { signRequest } from '../../protocol/signed-request.js';
import { subjects } from '../../protocol/subjects.js';
import { checkEvidence, type Evidence } from '../../protocol/evidence.js';
import { call } from '../../agents/transport/rpc.js';
import { buildEvidence } from '../../agent-home/evidence.js';
import { ed25519PrivateKeyPem } from '../../crypto/ed25519.js';

const test = suite('evidence files');
const world = worldSuite(test);
const tmp = tempDir('parley-evidence-');
let evidence: Evidence;
let d2: bigint;
let caFile: string;

test.before(async () => {
  caFile = join(tmp.path, 'ca.pem');
  writeFileSync(caFile, world.pki.ca.certificate.pem);
});
test.after(() => tmp.remove());

function verify(name: string, doc: unknown) {
  const f = join(tmp.path, name);
  writeFileSync(f, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
  const r = parleySync(['verify', f, '--ca', caFile, '--json']);
  return { status: r.status, doc: jsonOf<{ kind: string; valid: boolean; checks: Array<{ name: string; ok: boolean; detail: string; code?: string }> }>(r), text: r.stdout + r.stderr };
}

test('a session resolved by the Agent Home (and one exchange aborted) exports to evidence that verifies offline', async () => {
  const { client, files } = await world.buyer('ev-buyer');
  const { session, results } = await negotiated(client);
  assert.ok(results.agreements.length >= 2, 'two agreements');
  const [first, second] = results.agreements;
  // exchange 1: the merchant countersigns and, never getting SG, has the Agent Home resolve
  const x = await client.prepare(session.sn, first!.merchant);
  const m = world.stores.get(first!.merchant)!.self;
  const sig = signMerchant(merchantProtected([parseCertificate(m.certPem).der]), x.payload, m.secretKey);
  const reply = await call(await world.nats.party(m.id), subjects.home('home', 'resolve'), signRequest(RESOLVE_TYPE, { payload: x.payload, protected: x.protected, sg1: x.sg1, merchantSignature: sig }, 'home', m), ResolveReplySchema);
  assert.is(reply.outcome, 'resolved');
  // exchange 2: the buyer aborts
  const y = await client.prepare(session.sn, second!.merchant);
  assert.is((await client.abort(y.contractId)).outcome, 'aborted');
  d2 = restoreKey(files.session(session.sn).key).split.d2;

  evidence = await buildEvidence(world.home.state, session.sn, world.homeSelf);
  const types = new Set(evidence.items.map((i) => i.type));
  for (const t of ['session', 'request-statement', 'voucher', 'delegation', 'visit', 'negotiation', 'agreement', 'exchange', 'audit-record']) assert.ok(types.has(t as never), `holds a ${t}`);
  const resolved = evidence.items.find((i) => i.type === 'exchange' && (i.body as { status: string }).status === 'resolved');
  assert.ok((resolved!.body as { contract?: unknown }).contract, 'the resolution carries the contract that justified it');

  const r = verify('evidence.json', evidence);
  assert.is(r.status, 0, r.text);
  assert.is(r.doc.kind, 'evidence');
  assert.ok(r.doc.valid);
  assert.ok(r.doc.checks.length >= evidence.items.length + 3);
  assert.ok(checkEvidence(evidence, world.pki.ca.certificate).valid);
});

test('no secret is in the evidence file: neither the escrowed d2 nor the rules', () => {
  const text = readFileSync(join(tmp.path, 'evidence.json'), 'utf8');
  assert.not.ok(text.includes(bigintToB64u(d2)), 'd2 (base64url)');
  assert.not.ok(text.includes(d2.toString(16)), 'd2 (hex)');
  assert.not.ok(text.includes(d2.toString()), 'd2 (decimal)');
  const rules = exampleRules();
  assert.not.ok(text.includes(canonicalJson(rules)) || text.includes(JSON.stringify(rules)), 'the rules');
  assert.not.match(text, /"(d2|rules|reservation|weights)"/, 'no rule or key field names');
});

const clone = () => structuredClone(evidence);

function refused(name: string, doc: unknown, record: string | RegExp) {
  const r = verify(name, doc);
  assert.is(r.status, 3, `${name}: exit 3\n${r.text}`);
  assert.not.ok(r.doc.valid);
  const failed = r.doc.checks.filter((c) => !c.ok);
  const named = failed.some((c) => (typeof record === 'string' ? c.name.includes(record) || c.detail.includes(record) : record.test(c.name + ' ' + c.detail)));
  assert.ok(named, `${name}: a failed check names ${String(record)}: ${JSON.stringify(failed)}`);
}

test('removing, reordering, slipping in or editing any record is reported with the record named', () => {
  const items = evidence.items;
  // removing each kind of record
  for (const type of ['voucher', 'negotiation', 'exchange', 'audit-record', 'visit']) {
    const e = clone();
    const i = e.items.findIndex((x) => x.type === type);
    const [gone] = e.items.splice(i, 1);
    refused(`removed-${type}.json`, e, `record ${gone!.name} is missing`);
  }
  // two records swapped
  const swapped = clone();
  const a = swapped.items.findIndex((x) => x.type === 'negotiation');
  [swapped.items[a], swapped.items[a + 1]] = [swapped.items[a + 1]!, swapped.items[a]!];
  refused('reordered.json', swapped, 'out of order');
  // a record slipped in (a copy of an audit record under a new name)
  const extra = clone();
  const audit = extra.items.find((x) => x.type === 'audit-record')!;
  extra.items.push({ ...audit, name: 'audit #999999' });
  refused('slipped-in.json', extra, 'audit #999999');
  // edits: a revealed bid's price, a verdict, the resolution's time, an audit record's field
  const bid = clone();
  const n = bid.items.find((x) => x.type === 'negotiation')!;
  (n.body as { rounds: Array<{ bid: { price: number } }> }).rounds[0]!.bid.price -= 1;
  refused('edited-bid.json', bid, n.name);
  const verdict = clone();
  const v = verdict.items.find((x) => x.type === 'negotiation')!;
  const round = (v.body as { rounds: Array<{ accept: boolean }> }).rounds[0]!;
  round.accept = !round.accept;
  refused('edited-verdict.json', verdict, `record ${v.name} was altered`);
  const when = clone();
  const ex = when.items.find((x) => x.type === 'exchange')!;
  (ex.body as { at: string }).at = new Date(0).toISOString();
  refused('edited-exchange.json', when, `record ${ex.name} was altered`);
  const rec = clone();
  const ar = rec.items.find((x) => x.type === 'audit-record')!;
  (ar.body as { body: { at: string } }).body.at = new Date(0).toISOString();
  refused('edited-audit.json', rec, ar.name);
  // the audit chain: one hash changed
  const chain = clone();
  chain.auditChain.hashes[0] = '0'.repeat(64);
  refused('edited-chain.json', chain, 'audit chain');
  // and the seal itself
  const seal = clone();
  seal.seal.sig = seal.seal.sig.startsWith('A') ? 'B' + seal.seal.sig.slice(1) : 'A' + seal.seal.sig.slice(1);
  refused('edited-seal.json', seal, 'seal');
  assert.ok(items.length > 10);
});

test('parley home evidence SN --out FILE writes the same sealed record, refuses to overwrite, and parley verify accepts it', () => {
  const dir = tmp.path;
  writeFileSync(join(dir, 'home.pem'), world.homeSelf.certPem);
  writeFileSync(join(dir, 'home.key'), ed25519PrivateKeyPem(world.homeSelf.secretKey), { mode: 0o600 });
  const out = join(dir, 'cli-evidence.json');
  const args = ['home', 'evidence', evidence.sn, '--out', out, '--nats', world.nats.url, '--ca', caFile, '--cert', join(dir, 'home.pem'), '--key', join(dir, 'home.key'), '--home', join(dir, 'parley-home'), '--json'];
  const r = parleySync(args);
  assert.is(r.status, 0, r.stdout + r.stderr);
  const d = jsonOf<{ records: number; exchanges: number; auditRecords: number }>(r);
  assert.is(d.exchanges, 2);
  assert.ok(d.auditRecords >= 3);
  const written = JSON.parse(readFileSync(out, 'utf8')) as Evidence;
  assert.equal(written.items.map((i) => i.name), evidence.items.map((i) => i.name), 'the same records, in the same order');
  const v = verify('cli-evidence-copy.json', written);
  assert.is(v.status, 0, v.text);
  const again = parleySync(args);
  assert.is.not(again.status, 0);
  assert.match(again.stdout, /ERR_FILE_EXISTS/);
});

test('an evidence file with a repeated key is refused', () => {
  const text = JSON.stringify(evidence).replace('"kind":"parley-evidence"', '"kind":"parley-evidence","kind":"parley-evidence"');
  const f = join(tmp.path, 'dup.json');
  writeFileSync(f, text);
  const r = parleySync(['verify', f, '--ca', caFile, '--json']);
  assert.is.not(r.status, 0);
  assert.match(r.stdout + r.stderr, /ERR_JSON_DUPLICATE_KEY/);
});

test.run();
