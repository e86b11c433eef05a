/**
 * `parley contract show` and the demo's evidence file, as a user runs them: the demo writes
 * an evidence file that `parley verify` accepts; `contract show --evidence` says the second
 * contract was resolved by the Agent Home (with the resolution record) and the first was
 * not; --json and --html carry the same facts; the page, opened in a real browser, shows a
 * hostile template's markup as text and runs nothing.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, REPO_ROOT } from '../helpers/paths.js';
import { jsonOf, parleySync } from '../helpers/cli.js';
import { describeContract, type ContractView } from '../../protocol/contract-view.js';
import { contractHtml } from '../../cli/contract-html.js';
import { parseCertificate } from '../../crypto/x509/index.js';
import { EmbeddedJWK, generalVerify, importX509 } from 'jose';
import { encodeJwsPayload } from '../../crypto/jws.js';
import { OPENSSL_CHECK, OPENSSL_PREPARE, sh } from '../helpers/openssl-recipe.js';
import { copyFileSync, mkdirSync } from 'node:fs';

const test = suite('parley contract show');
const tmp = tempDir('parley-contract-show-');
test.after(() => tmp.remove());
const out = join(tmp.path, 'demo');
const CHROMIUM = '/usr/bin/chromium';

/** The DOM after the browser parsed and ran the page. */
function renderedDom(file: string): string {
  const r = spawnSync(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=2000', '--dump-dom', `file://${file}`], { encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, r.stderr);
  return r.stdout;
}

test('the demo writes an evidence file that parley verify accepts', () => {
  const r = parleySync(['demo', '--out', out, '--json']);
  assert.is(r.status, 0, r.stderr);
  const doc = jsonOf<{ valid: boolean; evidence: { valid: boolean; kind: string } }>(r);
  assert.ok(doc.valid);
  assert.is(doc.evidence.kind, 'evidence');
  const ev = readdirSync(out).find((f) => f.startsWith('evidence-'))!;
  const v = parleySync(['verify', join(out, ev), '--ca', join(out, 'ca.pem')]);
  assert.is(v.status, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /valid evidence/);
  // one record edited: exit 3, the record named
  const e = JSON.parse(readFileSync(join(out, ev), 'utf8'));
  const i = e.items.findIndex((x: { type: string }) => x.type === 'agreement');
  e.items[i].body.bid.price = 1;
  const bad = join(tmp.path, 'evidence-edited.json');
  writeFileSync(bad, JSON.stringify(e));
  const b = parleySync(['verify', bad, '--ca', join(out, 'ca.pem')]);
  assert.is(b.status, 3);
  assert.match(b.stdout, new RegExp(`FAIL record ${e.items[i].name}.*altered`));
});

test('jose and the OpenSSL command line verify both signatures of both demo contracts, with nothing but the file and the CA', async () => {
  for (const f of readdirSync(out).filter((x) => x.startsWith('contract-'))) {
    const jws = JSON.parse(readFileSync(join(out, f), 'utf8'));
    await generalVerify({ payload: jws.payload, signatures: [jws.signatures[0]] }, EmbeddedJWK);
    const x5c = JSON.parse(Buffer.from(jws.signatures[1].protected, 'base64url').toString()).x5c[0];
    const key = await importX509(`-----BEGIN CERTIFICATE-----\n${x5c}\n-----END CERTIFICATE-----`, 'EdDSA');
    await generalVerify({ payload: jws.payload, signatures: [jws.signatures[1]] }, key);
    const tampered = encodeJwsPayload({ ...JSON.parse(Buffer.from(jws.payload, 'base64url').toString()), issuedAt: new Date(0).toISOString() });
    let refused = 0;
    await generalVerify({ payload: tampered, signatures: [jws.signatures[0]] }, EmbeddedJWK).catch(() => refused++);
    await generalVerify({ payload: tampered, signatures: [jws.signatures[1]] }, key).catch(() => refused++);
    assert.is(refused, 2, `${f}: jose refuses a tampered payload`);

    const dir = join(tmp.path, `openssl-${f}`);
    mkdirSync(dir);
    copyFileSync(join(out, f), join(dir, 'contract.json'));
    copyFileSync(join(out, 'ca.pem'), join(dir, 'ca.pem'));
    const prep = sh(dir, OPENSSL_PREPARE);
    assert.is(prep.status, 0, prep.out);
    for (const line of OPENSSL_CHECK.split('\n')) assert.is(sh(dir, line).status, 0, `${f}: ${line}`);
  }
});

test('contract show: terms, total, parties, and how each contract was signed', () => {
  const files = readdirSync(out);
  const ev = join(out, files.find((f) => f.startsWith('evidence-'))!);
  const resolvedFile = join(out, files.find((f) => f.includes('resolved'))!);
  const honestFile = join(out, files.find((f) => f.startsWith('contract-1'))!);
  const html = join(tmp.path, 'resolved.html');
  const r = parleySync(['contract', 'show', resolvedFile, '--ca', join(out, 'ca.pem'), '--evidence', ev, '--json', '--html', html]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  const v = jsonOf<ContractView>(r);
  assert.is(v.signing.how, 'resolved');
  assert.ok(v.signing.record, 'the resolution record');
  assert.ok(v.valid);
  assert.is(v.total, Math.round(v.unitPrice * v.quantity * 100) / 100);
  assert.equal(v.parties.map((p) => p.role), ['buyer', 'merchant', 'agent home']);
  assert.match(v.parties[0]!.subject, /CN=alice/);
  assert.ok(v.checks.every((c) => c.ok) && v.checks.some((c) => c.name === 'evidence'));
  assert.match(v.signatures[0]!.key, /header jwk/);

  const h = parleySync(['contract', 'show', honestFile, '--evidence', ev]);
  assert.is(h.status, 0, h.stderr);
  assert.match(h.stdout, /records no resolution or abort of this contract/);
  assert.match(h.stdout, /not verified \(no --ca\)/);
  assert.match(h.stdout, /total\s+[\d.]+ EUR/);

  // the page holds the same facts, as the browser shows them
  assert.ok(existsSync(html));
  const dom = renderedDom(html);
  assert.match(dom, /resolved by the Agent Home/);
  assert.ok(dom.includes(v.contractId));
  assert.ok(dom.includes(v.total.toLocaleString('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 })));
  assert.not.match(dom, /<script/i);
});

test('a template with markup is shown as text in the page; nothing runs', () => {
  const dir = join(REPO_ROOT, 'test', 'fixtures', 'contract-v0');
  const v = describeContract(JSON.parse(readFileSync(join(dir, 'contract-1-shop-a.json'), 'utf8')), { ca: parseCertificate(readFileSync(join(dir, 'ca.pem'), 'utf8')) });
  assert.ok(v.valid);
  const hostile = '<script>document.title="pwned"</script><img src=x onerror="document.body.dataset.x=1">';
  const page = contractHtml({ ...v, title: `</title><script>document.title="pwned"</script>`, clauses: [hostile, '" onmouseover="x'], seller: { name: '<b>Evil</b> & Co' } });
  const f = join(tmp.path, 'hostile.html');
  writeFileSync(f, page);
  const dom = renderedDom(f);
  assert.not.match(dom, /<script/i, 'no script element');
  assert.not.match(dom, /<img/i, 'no image element');
  assert.not.match(dom, /<b>Evil/, 'no bold element from the template');
  assert.not.match(dom, /pwned<\/title>|<title>pwned/, 'the title was not changed by a script');
  assert.ok(dom.includes('&lt;script&gt;document.title="pwned"&lt;/script&gt;'), 'the markup is there as text');
  assert.ok(dom.includes('&lt;b&gt;Evil&lt;/b&gt; &amp; Co'));
  assert.not.ok(dom.includes('data-x='), 'no handler ran');
});

test.run();
