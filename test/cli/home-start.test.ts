/**
 * `parley home start` as a user runs it: with no --nats and no PARLEY_NATS_URL it starts a
 * nats-server with JetStream under the data directory, and the next start reuses it;
 * `parley home nats --stop` stops it and keeps its store.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/paths.js';
import { testPki } from '../helpers/parties.js';
import { jsonOf, parleySync, spawnParley } from '../helpers/cli.js';

const test = suite('parley home start');
const tmp = tempDir('parley-home-');
const env = { PARLEY_HOME: tmp.path, PARLEY_NATS_URL: '' };

test.before(async () => {
  const pki = await testPki();
  const self = await pki.party('home', 'agent-home');
  const dir = join(tmp.path, 'agent-home');
  mkdirSync(dir, { recursive: true });
  pki.writeFiles(dir, self); // ca.pem, home.pem, home.key: where `home start` looks
});

test.after(() => {
  parleySync(['home', 'nats', '--stop'], env);
  tmp.remove();
});

test('the first start launches the embedded server under the data directory; the next reuses it', async () => {
  const first = spawnParley(['home', 'start', '--json'], env);
  const a = await first.firstJson<{ embedded: boolean; reusedServer: boolean; nats: string; status: string }>();
  assert.equal([a.embedded, a.reusedServer, a.status], [true, false, 'running']);
  assert.ok(existsSync(join(tmp.path, 'nats', 'jetstream', 'jetstream')), 'JetStream store under the data directory');
  const code = await first.stop();
  assert.is(code, 0, `stops cleanly on SIGTERM; stderr: ${first.stderr()} signal ${first.child.signalCode}`);

  const status = jsonOf<{ running: boolean; url: string }>(parleySync(['home', 'nats', '--json'], env));
  assert.equal([status.running, status.url], [true, a.nats], 'the server outlives the daemon');

  const second = spawnParley(['home', 'start', '--json'], env);
  const b = await second.firstJson<{ embedded: boolean; reusedServer: boolean; nats: string }>();
  assert.equal([b.embedded, b.reusedServer, b.nats], [true, true, a.nats]);
  await second.stop();

  const stopped = jsonOf<{ stopped: boolean }>(parleySync(['home', 'nats', '--stop', '--json'], env));
  assert.ok(stopped.stopped);
  assert.is(jsonOf<{ running: boolean }>(parleySync(['home', 'nats', '--json'], env)).running, false);
  assert.ok(existsSync(join(tmp.path, 'nats', 'jetstream')), 'store kept');
});

test('a missing identity is a clear configuration error, not a crash', () => {
  const r = parleySync(['home', 'start', '--json', '--cert', join(tmp.path, 'nope.pem')], env);
  assert.is(r.status, 1);
  assert.is(jsonOf<{ error: { code: string } }>(r).error.code, 'ERR_CONFIG');
});

test('--replicas outside 1..5 is a usage error (exit 2) before anything starts', () => {
  const r = parleySync(['home', 'start', '--json', '--replicas', '0'], env);
  assert.is(r.status, 2, r.stderr);
  assert.is(jsonOf<{ error: { code: string } }>(r).error.code, 'ERR_USAGE');
});

test.run();
