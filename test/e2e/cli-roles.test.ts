/**
 * Every role as it runs in production: `parley home start`, two `parley store start`
 * daemons and the `parley buyer` commands, each in its own OS process, on one real
 * nats-server. A buyer negotiates, signs and verifies; the store and the arbiter see it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { natsSuite } from '../helpers/nats.js';
import { REPO_ROOT, tempDir } from '../helpers/paths.js';
import { jsonOf, parleySync, spawnParley, type Daemon } from '../helpers/cli.js';

const test = suite('roles as processes');
const daemons: Daemon[] = [];
const tmp = tempDir('parley-roles-');
// registered before the server's own hook, so the daemons stop while NATS is still up
test.after(async () => {
  for (const d of daemons.reverse()) await d.stop();
  tmp.remove();
});
const nats = natsSuite(test);
const home = join(tmp.path, 'home');
const caDir = join(tmp.path, 'ca');
let env: Record<string, string>;

function ok<T = Record<string, unknown>>(args: string[]): T {
  const r = parleySync(args, env);
  assert.is(r.status, 0, `parley ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return jsonOf<T>(r);
}

test.before(async () => {
  env = { PARLEY_HOME: home, PARLEY_NATS_URL: nats.url };
  ok(['ca', 'init', '--dir', caDir, '--json']);
  for (const [role, id] of [['agent-home', 'home'], ['merchant', 'shop-a'], ['merchant', 'shop-b'], ['buyer', 'alice']]) ok(['ca', 'issue', '--dir', caDir, '--role', role!, '--id', id!, '--json']);
  const issued = (f: string) => join(caDir, 'issued', f);
  mkdirSync(join(home, 'agent-home'), { recursive: true });
  copyFileSync(join(caDir, 'ca.pem'), join(home, 'agent-home', 'ca.pem'));
  copyFileSync(issued('home.pem'), join(home, 'agent-home', 'home.pem'));
  copyFileSync(issued('home.key'), join(home, 'agent-home', 'home.key'));
  const ah = spawnParley(['home', 'start', '--json'], env);
  daemons.push(ah);
  assert.is((await ah.firstJson<{ status: string }>()).status, 'running');
  for (const id of ['shop-a', 'shop-b']) {
    const config = JSON.parse(readFileSync(join(REPO_ROOT, 'examples', `store-${id.slice(-1)}.json`), 'utf8'));
    config.identity = { ca: join(caDir, 'ca.pem'), cert: issued(`${id}.pem`), key: issued(`${id}.key`) };
    const file = join(tmp.path, `${id}.json`);
    writeFileSync(file, JSON.stringify(config));
    const d = spawnParley(['store', 'start', '--config', file, '--json'], env);
    daemons.push(d);
    assert.is((await d.firstJson<{ status: string }>()).status, 'running');
  }
});

test('a buyer negotiates, signs and verifies; store and arbiter see the same contract', async () => {
  const issued = (f: string) => join(caDir, 'issued', f);
  ok(['buyer', 'init', '--id', 'alice', '--cert', issued('alice.pem'), '--key', issued('alice.key'), '--ca', join(caDir, 'ca.pem'), '--home-id', 'home', '--json']);
  // the stores register as they start; give the directory a moment
  let results: { sn: string; status: string; agreements: Array<{ merchant: string }> } | undefined;
  for (let i = 0; i < 20 && !(results && results.agreements.length === 2); i++) {
    const r = parleySync(['buyer', 'request', '--item', 'laptop-pro-14', '--category', 'laptops', '--quantity', '2', '--attr', 'ram=32GB', '--rules', join(REPO_ROOT, 'examples', 'rules.json'), '--deadline', '60s'].concat('--json'), env);
    assert.is(r.status, 0, r.stderr);
    results = jsonOf(r);
    assert.match(r.stderr, /sales agents/, 'live progress on stderr');
  }
  assert.is(results!.status, 'complete');
  assert.equal(results!.agreements.map((a) => a.merchant).sort(), ['shop-a', 'shop-b']);

  const best = results!.agreements[0]!.merchant;
  const signed = ok<{ state: string; contractFile: string; contractId: string }>(['buyer', 'sign', results!.sn, '--merchant', best, '--json']);
  assert.is(signed.state, 'complete');
  const v = parleySync(['verify', signed.contractFile, '--ca', join(caDir, 'ca.pem')], env);
  assert.is(v.status, 0, v.stdout);

  const listed = ok<{ contracts: Array<{ contractId: string }> }>(['buyer', 'contracts', '--json']);
  assert.ok(listed.contracts.some((c) => c.contractId === signed.contractId));
  let store: { contracts: Array<{ contractId: string; state: string }> } | undefined;
  for (let i = 0; i < 50; i++) {
    store = ok(['store', 'contracts', '--id', best, '--json']);
    if (store?.contracts.some((c) => c.contractId === signed.contractId && c.state === 'complete')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(store!.contracts.some((c) => c.contractId === signed.contractId && c.state === 'complete'), 'the store holds the complete contract');

  const sessions = ok<{ sessions: Array<{ sn: string }> }>(['home', 'sessions', '--json']);
  assert.ok(sessions.sessions.some((s) => s.sn === results!.sn));
  const shown = ok<{ negotiations: Array<{ merchant: string; rounds: unknown[] }> }>(['home', 'show', results!.sn, '--json']);
  assert.is(shown.negotiations.length, 2);
  assert.ok(shown.negotiations.every((n) => n.rounds.length >= 1));
  const human = parleySync(['home', 'show', results!.sn], env);
  assert.match(human.stdout, /visit log:/);
  assert.match(human.stdout, /accept/);

  // the buyer's offline report, by session prefix, with the rules' utility line
  const file = join(caDir, 'report.html');
  const report = ok<{ file: string; agreements: number; contracts: number }>(['buyer', 'report', results!.sn.slice(0, 8), '--rules', join(REPO_ROOT, 'examples', 'rules.json'), '--out', file, '--json']);
  assert.equal([report.agreements, report.contracts], [2, 1]);
  const html = readFileSync(file, 'utf8');
  assert.ok(html.includes(signed.contractId) && html.includes('"reservation":0.3'), 'the data is inline');
  assert.not.ok(/<script[^>]+src=/.test(html), 'nothing is loaded from elsewhere');

  // the merchant's console, as a command beside its running daemon
  const cons = spawnParley(['store', 'console', '--config', join(tmp.path, `${best}.json`)], env);
  daemons.push(cons);
  let line: RegExpExecArray | null = null;
  for (let i = 0; i < 200 && !line; i++) {
    line = /^console: (http:\/\/127\.0\.0\.1:\d+)\/\?token=([\w-]+)$/m.exec(cons.stderr());
    if (!line) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(line, `the console prints its URL; stderr: ${cons.stderr()}`);
  const answer = await fetch(`${line![1]}/api/session?sn=${results!.sn}`, { headers: { Authorization: `Bearer ${line![2]}` } });
  assert.is(answer.status, 200);
  const seen = (await answer.json()) as { outcome: string; contracts: Array<{ contractId: string }> };
  assert.equal([seen.outcome, seen.contracts.map((c) => c.contractId)], ['won', [signed.contractId]]);
  assert.is(await cons.stop('SIGINT'), 0, 'Ctrl-C ends it cleanly');
});

test.run();
