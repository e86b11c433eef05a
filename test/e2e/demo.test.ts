/**
 * `parley demo` and `parley verify` as a user runs them: the demo starts its own
 * nats-server, runs a whole session, writes two contracts (one resolved by the Agent Home)
 * and the CA certificate, and exits 0; `parley verify` accepts both files offline and
 * rejects (exit 3) a copy with one changed byte.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/paths.js';
import { jsonOf, parleySync } from '../helpers/cli.js';

const test = suite('parley demo');
const tmp = tempDir('parley-demo-test-');
test.after(() => tmp.remove());

test('parley demo runs the whole protocol and leaves two verifiable contracts', () => {
  const out = join(tmp.path, 'out');
  const r = parleySync(['demo', '--out', out, '--json']);
  assert.is(r.status, 0, r.stderr);
  const doc = jsonOf<{ valid: boolean; seconds: number; contracts: Array<{ file: string; valid: boolean }> }>(r);
  assert.ok(doc.valid);
  console.log(`# parley demo finished in ${doc.seconds.toFixed(1)} s`);
  assert.match(r.stderr, /negotiation transcript/);
  assert.match(r.stderr, /ACCEPT/);
  assert.match(r.stderr, /resolved by the Agent Home/);
  const files = readdirSync(out).sort();
  assert.ok(files.includes('ca.pem'));
  const contracts = files.filter((f) => f.startsWith('contract-'));
  assert.is(contracts.length, 2);
  assert.ok(contracts.some((f) => f.includes('resolved')));

  for (const f of contracts) {
    const v = parleySync(['verify', join(out, f), '--ca', join(out, 'ca.pem')]);
    assert.is(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /valid contract/);
    assert.is((v.stdout.match(/^ok /gm) ?? []).length, 10, 'ten checks, all ok');
  }

  // one changed character in the signed payload: verification fails, exit 3
  const jws = JSON.parse(readFileSync(join(out, contracts[0]!), 'utf8'));
  const p: string = jws.payload;
  const i = Math.floor(p.length / 2);
  jws.payload = p.slice(0, i) + (p[i] === 'A' ? 'B' : 'A') + p.slice(i + 1);
  const bad = join(tmp.path, 'tampered.json');
  writeFileSync(bad, JSON.stringify(jws));
  const v = parleySync(['verify', bad, '--ca', join(out, 'ca.pem'), '--json']);
  assert.is(v.status, 3);
  assert.is(jsonOf<{ valid: boolean }>(v).valid, false);
  assert.ok(existsSync(join(out, 'ca.pem')));
});

test.run();
