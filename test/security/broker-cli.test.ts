/**
 * `parley home init` as a user runs it: it writes the TLS CA and server certificate, one
 * nkey seed per party (0600, never printed) and the nats-server configuration; `parley home
 * start` then runs the embedded server with that configuration and connects as the Agent
 * Home; `--add-party` adds a party and the running server reloads without dropping anyone.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/paths.js';
import { testPki } from '../helpers/parties.js';
import { jsonOf, parleySync, spawnParley, type Daemon } from '../helpers/cli.js';
import { eventually } from '../helpers/world.js';
import { rejectsCode } from '../helpers/assert.js';
import { connectNats } from '../../agents/transport/connect.js';
import { embeddedServerStatus, ensureEmbeddedServer, stopEmbeddedServer } from '../../agents/transport/embedded.js';
import { brokerConnection, brokerPaths } from '../../agent-home/init.js';
import { subjects } from '../../protocol/subjects.js';

const test = suite('parley home init');
const tmp = tempDir('parley-broker-cli-');
const env = { PARLEY_HOME: tmp.path, PARLEY_NATS_URL: '', PARLEY_NATS_NKEY_SEED_FILE: '', PARLEY_NATS_TLS_CA: '' };
const dir = join(tmp.path, 'agent-home', 'broker');
let daemon: Daemon | undefined;

interface InitJson {
  dir: string;
  config: string;
  home: string;
  tlsCa: string;
  parties: Array<{ role: string; id: string; nkey: string; seedFile: string }>;
  added: string[];
  reloaded?: boolean;
}

test.before(async () => {
  const pki = await testPki();
  const self = await pki.party('home', 'agent-home');
  const d = join(tmp.path, 'agent-home');
  mkdirSync(d, { recursive: true });
  pki.writeFiles(d, self); // ca.pem, home.pem, home.key: where `home start` looks
});

/** Stops the daemon: SIGTERM, and SIGKILL if it has not exited 15 s later (a test never hangs on it). */
async function stopDaemon(d: Daemon): Promise<number | null> {
  const t = setTimeout(() => d.child.kill('SIGKILL'), 15_000);
  try {
    return await d.stop();
  } finally {
    clearTimeout(t);
  }
}

test.after(async () => {
  if (daemon) await stopDaemon(daemon);
  parleySync(['home', 'nats', '--stop'], env);
  tmp.remove();
});

const mode = (p: string) => statSync(p).mode & 0o777;

test('init writes the CA, the server certificate, one seed per party and the config; secrets are 0600 and never printed', () => {
  const r = parleySync(['home', 'init', '--party', 'merchant:shop-a', 'buyer:alice', '--json'], env);
  assert.is(r.status, 0, r.stderr + r.stdout);
  const out = jsonOf<InitJson>(r);
  assert.is(out.home, 'home', 'the Agent Home id comes from its certificate');
  assert.equal(out.parties.map((p) => `${p.role}:${p.id}`).sort(), ['agent-home:home', 'buyer:alice', 'console:console', 'merchant:shop-a'], 'the read-only console party is always added');
  assert.equal(out.added.sort(), ['alice', 'console', 'home', 'shop-a']);
  const paths = brokerPaths(dir);
  assert.is(out.config, paths.config);
  const conf = readFileSync(paths.config, 'utf8');
  for (const p of out.parties) {
    assert.is(mode(p.seedFile), 0o600, p.seedFile);
    const seed = readFileSync(p.seedFile, 'utf8').trim();
    assert.match(seed, /^SU[A-Z2-7]+$/);
    assert.not.ok((r.stdout + r.stderr).includes(seed), 'a seed is never printed');
    assert.ok(conf.includes(p.nkey), `${p.id} is a user of the server`);
  }
  assert.is(mode(join(dir, 'nkeys')), 0o700);
  assert.is(mode(paths.serverKey), 0o600);
  assert.is(mode(paths.caKey), 0o600);
  const v = spawnSync('openssl', ['verify', '-CAfile', paths.caCert, '-purpose', 'sslserver', '-verify_ip', '127.0.0.1', paths.serverCert], { encoding: 'utf8' });
  assert.is(v.status, 0, v.stderr + v.stdout);

  const again = parleySync(['home', 'init', '--json'], env);
  assert.is(again.status, 1);
  assert.is(jsonOf<{ error: { code: string } }>(again).error.code, 'ERR_FILE_EXISTS', 'an existing broker is kept');
});

test('home start runs the embedded server with the generated config and connects as the Agent Home; --add-party reloads it', async () => {
  daemon = spawnParley(['home', 'start', '--json'], env);
  const started = await daemon.firstJson<{ nats: string; embedded: boolean; status: string }>(60_000).catch(async (e: unknown) => {
    await stopDaemon(daemon!);
    throw e;
  });
  assert.equal([started.embedded, started.status], [true, 'running'], `${JSON.stringify(started)}; stderr: ${daemon.stderr()}`);
  assert.match(started.nats, /^tls:\/\//);
  assert.is((await embeddedServerStatus(tmp.path))?.configFile, brokerPaths(dir).config, 'the embedded server runs the generated config');

  // a buyer connects with its seed and the CA, and reaches the Agent Home
  const alice = await connectNats({ servers: started.nats, ...brokerConnection(dir, 'alice'), failFast: true });
  const key = await alice.request(subjects.home('home', 'key'), new Uint8Array(), { timeout: 15_000 });
  assert.ok(JSON.parse(new TextDecoder().decode(key.data)).ok, 'the Agent Home answers on the secured server');

  const added = parleySync(['home', 'init', '--add-party', 'buyer:bob', '--json'], env);
  assert.is(added.status, 0, added.stderr + added.stdout);
  const out = jsonOf<InitJson>(added);
  assert.equal([out.added, out.reloaded], [['bob'], true]);
  const bob = await eventually(
    'bob connects once the server has reloaded',
    async () => connectNats({ servers: started.nats, ...brokerConnection(dir, 'bob'), failFast: true }).catch(() => undefined),
    20_000,
  );
  assert.ok((await bob.request(subjects.home('home', 'key'), new Uint8Array(), { timeout: 15_000 })).data.length > 0);
  assert.not.ok(alice.isClosed(), 'the reload dropped nobody');
  // the reload kept JetStream, and the arbiter's commands read the state as the Agent Home
  const sessions = parleySync(['home', 'sessions', '--json'], env);
  assert.is(sessions.status, 0, sessions.stderr + sessions.stdout);
  assert.equal(jsonOf<{ sessions: unknown[] }>(sessions).sessions, []);
  // the arbiter console, as a command, connects to the secured broker as the console party
  const cons = spawnParley(['home', 'console'], env);
  try {
    const m = await eventually('the console line', () => /^console: (http:\/\/127\.0\.0\.1:\d+)\/\?token=([\w-]+)$/m.exec(cons.stderr()) ?? undefined, 30_000);
    const dir0 = await fetch(`${m[1]}/api/directory`, { headers: { Authorization: `Bearer ${m[2]}` } });
    assert.is(dir0.status, 200, cons.stderr());
    assert.equal(((await dir0.json()) as { merchants: unknown[] }).merchants, []);
    assert.is((await fetch(`${m[1]}/api/directory`)).status, 401);
  } finally {
    assert.is(await cons.stop('SIGINT'), 0, cons.stderr());
  }
  await alice.close();
  await bob.close();
  assert.is(await stopDaemon(daemon), 0, `stops cleanly; stderr: ${daemon.stderr()}`);
  daemon = undefined;
});

test('a running embedded server without the broker config is not silently used with it', async () => {
  const other = tempDir('parley-broker-cli-plain-');
  try {
    await ensureEmbeddedServer(other.path);
    await rejectsCode(() => ensureEmbeddedServer(other.path, { configFile: brokerPaths(dir).config }), 'ERR_CONFIG');
  } finally {
    await stopEmbeddedServer(other.path);
    other.remove();
  }
});

test.run();
