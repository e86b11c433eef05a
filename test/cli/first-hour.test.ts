/**
 * What a newcomer meets in the first hour (issue 20), each as `parley` runs as a child
 * process: `home init` installing the Agent Home's identity, errors that name the missing
 * file and the command that makes it, one daemon per data directory, spoken stops,
 * `store start --check`, rules checked (with file:line:column) before any key or network
 * work, an unanswered Agent Home named as such, Ctrl-C during a request, session prefixes,
 * `buyer sessions`, header rows and the second-merchant warning.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { natsSuite } from '../helpers/nats.js';
import { REPO_ROOT, tempDir } from '../helpers/paths.js';
import { jsonOf, parleyRun, parleySync, spawnParley, type Daemon, type Run } from '../helpers/cli.js';

const test = suite('first hour');
const tmp = tempDir('parley-first-hour-');
const daemons: Daemon[] = [];
test.after(async () => {
  for (const d of daemons.reverse()) await d.stop('SIGKILL');
  tmp.remove();
});
const nats = natsSuite(test);
const home = join(tmp.path, 'home');
const caDir = join(home, 'ca');
const env = () => ({ PARLEY_HOME: home, PARLEY_NATS_URL: nats.url, PARLEY_PASSPHRASE_FILE: '' });
let shopA: Daemon | undefined;
const errorOf = (r: Run) => jsonOf<{ error: { code: string; message: string } }>(r).error;

/** Waits for `re` on the daemon's stderr. */
async function stderrMatches(d: Daemon, re: RegExp, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!re.test(d.stderr())) {
    if (Date.now() > end) throw new Error(`no ${re} on stderr within ${ms} ms: ${d.stderr()}`);
    if (d.child.exitCode !== null) throw new Error(`exited ${d.child.exitCode}: ${d.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function storeConfig(id: string, letter: string): string {
  const dir = join(tmp.path, id);
  mkdirSync(dir, { recursive: true });
  const r = parleySync(['ca', 'issue', '--dir', caDir, '--role', 'merchant', '--id', id, '--out', dir, '--json'], env());
  assert.is(r.status, 0, r.stderr);
  copyFileSync(join(caDir, 'ca.pem'), join(dir, 'ca.pem'));
  copyFileSync(join(REPO_ROOT, 'examples', `store-${letter}.json`), join(dir, 'store.json'));
  return join(dir, 'store.json');
}

test('home start before home init names the missing file and `parley home init`', () => {
  const r = parleySync(['home', 'start', '--json'], env());
  assert.is(r.status, 1);
  const e = errorOf(r);
  assert.is(e.code, 'ERR_CONFIG');
  assert.ok(e.message.includes(join(home, 'agent-home', 'home.pem')), e.message);
  assert.match(e.message, /parley home init/);
  const audit = parleySync(['home', 'audit', '--verify', '--json'], env());
  assert.match(errorOf(audit).message, /parley home init/, 'home audit --verify says the same');
});

test('home init without a CA says to run `parley ca init`; with one it issues the identity, and keeps it the next time', () => {
  const none = parleySync(['home', 'init', '--no-broker', '--json'], env());
  assert.is(none.status, 1);
  assert.match(errorOf(none).message, /parley ca init/);
  assert.is(parleySync(['ca', 'init', '--dir', caDir, '--json'], env()).status, 0);
  const r = parleySync(['home', 'init', '--no-broker', '--json'], env());
  assert.is(r.status, 0, r.stderr);
  const out = jsonOf<{ identity: { id: string; how: string; cert: string; key: string } }>(r);
  assert.equal([out.identity.id, out.identity.how], ['home', 'issued']);
  const shown = parleySync(['ca', 'show', out.identity.cert, '--ca', join(caDir, 'ca.pem'), '--role', 'agent-home', '--id', 'home', '--json'], env());
  assert.is(shown.status, 0, `an agent-home certificate from the CA: ${shown.stdout}`);
  assert.not.ok((r.stdout + r.stderr).includes('PRIVATE KEY'), 'the key is never printed');
  const again = jsonOf<{ identity: { how: string } }>(parleySync(['home', 'init', '--no-broker', '--json'], env()));
  assert.is(again.identity.how, 'kept');
});

test('home init --cert/--key installs an identity issued elsewhere, checked against the CA', () => {
  const other = join(tmp.path, 'other-home');
  const issued = parleySync(['ca', 'issue', '--dir', caDir, '--role', 'agent-home', '--id', 'ah2', '--json'], env());
  assert.is(issued.status, 0, issued.stderr);
  const files = (f: string) => join(caDir, 'issued', f);
  const r = parleySync(['home', 'init', '--home', other, '--no-broker', '--cert', files('ah2.pem'), '--key', files('ah2.key'), '--ca-cert', join(caDir, 'ca.pem'), '--json'], env());
  assert.is(r.status, 0, r.stderr + r.stdout);
  const identity = jsonOf<{ identity: { id: string; how: string } }>(r).identity;
  assert.equal([identity.id, identity.how], ['ah2', 'installed']);
  assert.ok(existsSync(join(other, 'agent-home', 'home.key')));
  // a merchant's certificate is not an Agent Home's
  parleySync(['ca', 'issue', '--dir', caDir, '--role', 'merchant', '--id', 'm9', '--json'], env());
  const wrong = parleySync(['home', 'init', '--home', join(tmp.path, 'third'), '--no-broker', '--cert', files('m9.pem'), '--key', files('m9.key'), '--ca-cert', join(caDir, 'ca.pem'), '--json'], env());
  assert.is(errorOf(wrong).code, 'ERR_CERT_ROLE');
});

test('store start --check validates and tests the connection, then exits; a misspelt key is named with file:line:column', () => {
  const file = storeConfig('shop-a', 'a');
  const ok = parleySync(['store', 'start', '--config', file, '--check', '--json'], env());
  assert.is(ok.status, 0, ok.stderr);
  assert.equal(jsonOf<{ status: string; items: number }>(ok).status, 'ok');
  assert.not.ok(existsSync(join(home, 'store', 'shop-a', 'daemon.lock')), 'nothing was started');
  const bad = join(tmp.path, 'bad-store.json');
  writeFileSync(bad, readFileSync(file, 'utf8').replace('"completeTimeoutMs"', '"completeTimoutMs"'));
  const r = parleySync(['store', 'start', '--config', bad, '--check', '--json'], env());
  assert.is(r.status, 1);
  const e = errorOf(r);
  assert.is(e.code, 'ERR_CONFIG');
  assert.match(e.message, new RegExp(`${bad.replace(/[.]/g, '[.]')}:\\d+:\\d+: unknown key "completeTimoutMs"`));
  assert.match(e.message, /did you mean "completeTimeoutMs"/);
});

test('one daemon per data directory; a daemon stopped with Ctrl-C says so and exits 0', async () => {
  const ah = spawnParley(['home', 'start', '--json'], env());
  daemons.push(ah);
  assert.is((await ah.firstJson<{ status: string }>(60_000)).status, 'running');
  const twice = await parleyRun(['home', 'start', '--json'], env());
  assert.is(twice.status, 1);
  assert.is(errorOf(twice).code, 'ERR_ALREADY_RUNNING');
  assert.match(errorOf(twice).message, new RegExp(`pid ${ah.child.pid}`));

  const file = join(tmp.path, 'shop-a', 'store.json');
  const store = spawnParley(['store', 'start', '--config', file, '--json'], env());
  daemons.push(store);
  assert.is((await store.firstJson<{ status: string }>(60_000)).status, 'running');
  const second = await parleyRun(['store', 'start', '--config', file, '--json'], env());
  assert.is(errorOf(second).code, 'ERR_ALREADY_RUNNING');

  assert.is(await store.stop('SIGINT'), 0);
  assert.match(store.stderr(), /stopping store shop-a/);
  assert.match(store.stderr(), /store shop-a stopped, state saved/);
  // its lock went with it: it starts again
  shopA = spawnParley(['store', 'start', '--config', file, '--json'], env());
  daemons.push(shopA);
  assert.is((await shopA.firstJson<{ status: string }>(60_000)).status, 'running');
});

test('buyer: rules are checked before any key or network work, with file:line:column and the closest key', async () => {
  const issued = (f: string) => join(caDir, 'issued', f);
  assert.is(parleySync(['ca', 'issue', '--dir', caDir, '--role', 'buyer', '--id', 'alice', '--json'], env()).status, 0);
  const init = parleySync(['buyer', 'init', '--id', 'alice', '--cert', issued('alice.pem'), '--key', issued('alice.key'), '--ca', join(caDir, 'ca.pem'), '--home-id', 'home', '--json'], env());
  assert.is(init.status, 0, init.stderr);
  const rules = join(tmp.path, 'rules.json');
  writeFileSync(rules, readFileSync(join(REPO_ROOT, 'examples', 'rules.json'), 'utf8').replace('"reservation"', '"reservaton"'));
  // no broker at all: the rules must fail first
  const r = parleySync(['buyer', 'request', '--item', 'laptop-pro-14', '--category', 'laptops', '--quantity', '1', '--rules', rules, '--json'], { ...env(), PARLEY_NATS_URL: 'nats://127.0.0.1:1' });
  assert.is(r.status, 1);
  const e = errorOf(r);
  assert.is(e.code, 'ERR_RULES_INVALID');
  assert.match(e.message, /rules\.json:\d+:\d+: unknown key "reservaton"/);
  assert.match(e.message, /did you mean "reservation"/);
  assert.not.ok(existsSync(join(home, 'buyer', 'pending')), 'no session key was generated');
  writeFileSync(rules, '{\n  "weights": {"price": 1},\n  "ranges": ');
  assert.match(errorOf(parleySync(['buyer', 'request', '--item', 'x', '--category', 'y', '--quantity', '1', '--rules', rules, '--json'], env())).message, /rules\.json:3:\d+: not valid JSON/);
});

test('an Agent Home that is not running is named, with the command that starts it', async () => {
  const other = { ...env() };
  const cfg = JSON.parse(readFileSync(join(home, 'buyer', 'config.json'), 'utf8')) as { home: string };
  writeFileSync(join(home, 'buyer', 'config.json'), JSON.stringify({ ...cfg, home: 'nobody' }));
  try {
    const r = await parleyRun(['buyer', 'request', '--item', 'laptop-pro-14', '--category', 'laptops', '--quantity', '1', '--rules', join(REPO_ROOT, 'examples', 'rules.json'), '--json'], other);
    const e = errorOf(r);
    assert.is(e.code, 'ERR_UNAVAILABLE');
    assert.is(e.message, `Agent Home nobody is not answering on ${nats.url}; is \`parley home start\` running?`);
  } finally {
    writeFileSync(join(home, 'buyer', 'config.json'), JSON.stringify(cfg));
  }
});

test('Ctrl-C during buyer request prints the session, what is safe and how to go on; exit 130', async () => {
  // the only store is paused: its Invite Agent waits for the hop timeout, so the session is open while we interrupt it
  await new Promise((r) => setTimeout(r, 1000)); // its registration is in
  shopA!.child.kill('SIGSTOP');
  const d = spawnParley(['buyer', 'request', '--item', 'laptop-pro-14', '--category', 'laptops', '--quantity', '1', '--rules', join(REPO_ROOT, 'examples', 'rules.json'), '--deadline', '5m'], env());
  daemons.push(d);
  let sn: string;
  try {
    await stderrMatches(d, /session [0-9a-f]{32} open until/, 60_000);
    sn = /session ([0-9a-f]{32}) open/.exec(d.stderr())![1]!;
    assert.is(await d.stop('SIGINT'), 130);
  } finally {
    shopA!.child.kill('SIGCONT');
  }
  assert.match(d.stderr(), new RegExp(`interrupted: session ${sn} goes on`));
  assert.match(d.stderr(), new RegExp(`parley buyer results ${sn.slice(0, 8)} --follow`));

  // the session is there, listed with a header row, and reachable by a prefix
  const listed = jsonOf<{ sessions: Array<{ sn: string }> }>(parleySync(['buyer', 'sessions', '--json'], env()));
  assert.ok(listed.sessions.some((s) => s.sn === sn));
  assert.match(parleySync(['buyer', 'sessions'], env()).stdout, /^SESSION\s+OPENED\s+DEADLINE\s+ITEM/);
  const byPrefix = parleySync(['buyer', 'results', sn.slice(0, 6), '--json'], env());
  assert.is(byPrefix.status, 0, byPrefix.stderr);
  assert.is(jsonOf<{ sn: string }>(byPrefix).sn, sn);
  const shown = parleySync(['home', 'show', sn.slice(0, 6), '--json'], env());
  assert.is(jsonOf<{ session: { sn: string } }>(shown).session.sn, sn, 'home show takes a prefix too');
  assert.match(parleySync(['home', 'sessions'], env()).stdout, /^SESSION\s+STATUS\s+BUYER/);
  assert.match(parleySync(['home', 'disputes'], env()).stdout, /no disputes/);
  const unknown = parleySync(['buyer', 'results', 'ffffffff', '--json'], env());
  assert.is(errorOf(unknown).code, 'ERR_SESSION_UNKNOWN');
});

test('a merchant skipped while paused that answers later has one truth: negotiated, the skip marked as a late answer', async () => {
  shopA!.child.kill('SIGSTOP');
  let sn: string;
  try {
    const r = await parleyRun(['buyer', 'request', '--item', 'laptop-pro-14', '--category', 'laptops', '--quantity', '1', '--rules', join(REPO_ROOT, 'examples', 'rules.json'), '--deadline', '2m', '--json'], env());
    assert.is(r.status, 0, r.stderr);
    const res = jsonOf<{ sn: string; status: string; progress: { skipped: number }; agreements: unknown[] }>(r);
    assert.equal([res.status, res.progress.skipped, res.agreements.length], ['complete', 1, 0], 'the paused store was skipped');
    sn = res.sn;
  } finally {
    shopA!.child.kill('SIGCONT');
  }
  let shown: { lateAnswers: string[]; agreements: Array<{ merchant: string }> } | undefined;
  for (let i = 0; i < 100 && !shown?.agreements.length; i++) {
    await new Promise((r) => setTimeout(r, 200));
    shown = jsonOf(parleySync(['home', 'show', sn, '--json'], env()));
  }
  assert.equal(shown!.agreements.map((a) => a.merchant), ['shop-a'], 'its Sales Agent came later and agreed');
  assert.equal(shown!.lateAnswers, ['shop-a']);
  assert.match(parleySync(['home', 'show', sn], env()).stdout, /skipped shop-a \(.*\); shop-a answered late and negotiated/);
  const results = jsonOf<{ progress: { skipped: number }; agreements: unknown[] }>(parleySync(['buyer', 'results', sn, '--json'], env()));
  assert.equal([results.progress.skipped, results.agreements.length], [0, 1], 'the buyer sees the agreement, and no skip');
});

test('a store that loses its Agent Home says so, and says when it is back', async () => {
  const ah = daemons[0]!;
  assert.is(await ah.stop('SIGINT'), 0);
  assert.match(ah.stderr(), /Agent Home home stopped, state saved/);
  await stderrMatches(shopA!, /Agent Home home is not answering/, 40_000);
  const again = spawnParley(['home', 'start', '--json'], env());
  daemons.push(again);
  assert.is((await again.firstJson<{ status: string }>(60_000)).status, 'running');
  await stderrMatches(shopA!, /Agent Home home is back/, 90_000);
});

test('an ambiguous session prefix is a usage error; a second merchant in one session is warned about', () => {
  const dir = join(home, 'buyer');
  const real = jsonOf<{ sessions: Array<{ sn: string }> }>(parleySync(['buyer', 'sessions', '--json'], env())).sessions[0]!.sn;
  const session = JSON.parse(readFileSync(join(dir, 'sessions', `${real}.json`), 'utf8')) as { sn: string; created: string };
  // a second session file whose number shares the first characters (a copy: nothing is sent)
  const twin = real.slice(0, 4) + 'f'.repeat(28) === real ? real.slice(0, 4) + 'e'.repeat(28) : real.slice(0, 4) + 'f'.repeat(28);
  writeFileSync(join(dir, 'sessions', `${twin}.json`), JSON.stringify({ ...session, sn: twin }), { mode: 0o600 });
  const amb = parleySync(['buyer', 'results', real.slice(0, 4), '--json'], env());
  assert.is(amb.status, 2);
  assert.match(errorOf(amb).message, /ambiguous/);
  // an exchange with shop-b already in this session
  mkdirSync(join(dir, 'exchanges'), { recursive: true });
  writeFileSync(join(dir, 'exchanges', 'x1.json'), JSON.stringify({ contractId: 'x1', sn: real, merchant: 'shop-b', state: 'complete', updated: new Date().toISOString() }), { mode: 0o600 });
  const r = parleySync(['buyer', 'sign', real, '--merchant', 'shop-a'], env());
  assert.match(r.stderr, /warning: you already signed with shop-b \(complete\) in session/);
  const table = parleySync(['buyer', 'contracts'], env());
  assert.match(table.stdout, /^CONTRACT\s+SESSION\s+MERCHANT\s+STATE\s+FILE/);
});

test.run();
