/**
 * Encrypted key files as a user meets them: `parley ca init|issue --passphrase-file` write
 * encrypted keys (0600) that OpenSSL cannot read (a wrong or missing passphrase is refused
 * with ERR_PASSPHRASE, as test/crypto/key-file.test.ts shows);
 * `parley home start`, `parley store start` and `parley buyer init` read them
 * with `--passphrase-file` or $PARLEY_PASSPHRASE_FILE; the Agent Home's secrets file stays
 * encrypted and the daemon starts from it. No passphrase ever reaches stdout or stderr.
 * Commands of one step run concurrently to keep the suite short.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { natsSuite } from '../helpers/nats.js';
import { REPO_ROOT, tempDir } from '../helpers/paths.js';
import { jsonOf, parleyRun, spawnParley, type Daemon, type Run } from '../helpers/cli.js';
import { isEncryptedKeyFile, readPassphraseFile } from '../../crypto/key-file.js';
import { toB64u } from '../../crypto/bytes.js';
import { loadOrCreateSecrets } from '../../agent-home/secrets.js';
import { issueToDir } from '../../ca/store.js';
import { subjects } from '../../protocol/subjects.js';
import { decodeReply } from '../../protocol/wire.js';
import { EncryptionKeyReplySchema } from '../../protocol/session.js';

const test = suite('encrypted key files on the command line');
const daemons: Daemon[] = [];
const tmp = tempDir('parley-keys-cli-');
// registered before the server's own hook, so the daemons stop while NATS is still up
test.after(async () => {
  for (const d of daemons) await d.stop();
  tmp.remove();
});
const nats = natsSuite(test);

const PASSPHRASE = 'a long and unusual passphrase 7f3a';
const caDir = join(tmp.path, 'ca');
const home = join(tmp.path, 'home');
const ahDir = join(home, 'agent-home');
const passFile = join(tmp.path, 'passphrase');
const env = { PARLEY_HOME: home, PARLEY_NATS_URL: '', PARLEY_PASSPHRASE_FILE: '' };
const outputs: string[] = [];

async function parley(args: string[], extra: Record<string, string> = {}): Promise<Run> {
  const r = await parleyRun(args, { ...env, ...extra });
  outputs.push(r.stdout + r.stderr);
  return r;
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

function encryptedKey(path: string): void {
  assert.is(mode(path), 0o600, `${path} mode`);
  assert.ok(isEncryptedKeyFile(readFileSync(path, 'utf8')), `${path} is encrypted`);
  assert.is.not(spawnSync('openssl', ['pkey', '-in', path, '-noout']).status, 0, `openssl pkey reads ${path}`);
}

test.before(() => {
  writeFileSync(passFile, PASSPHRASE + '\n', { mode: 0o600 });
});

test('ca init and issue with a passphrase write encrypted 0600 keys that OpenSSL cannot read', async () => {
  const init = await parley(['ca', 'init', '--dir', caDir, '--id', 'enc-ca', '--passphrase-file', passFile, '--json']);
  assert.is(init.status, 0, init.stderr);
  assert.is(jsonOf<{ keyEncrypted: boolean }>(init).keyEncrypted, true);
  encryptedKey(join(caDir, 'ca.key'));

  // the environment variable stands in for the flag
  const issued = await parley(['ca', 'issue', '--dir', caDir, '--role', 'agent-home', '--id', 'home', '--out', ahDir, '--json'], { PARLEY_PASSPHRASE_FILE: passFile });
  assert.is(issued.status, 0, issued.stderr);
  assert.is(jsonOf<{ keyEncrypted: boolean }>(issued).keyEncrypted, true);
  encryptedKey(join(ahDir, 'home.key'));
  assert.is(mode(join(ahDir, 'home.pem')), 0o644);
});

test('home start, store start and buyer init read encrypted keys; the Agent Home starts from its encrypted secrets', async () => {
  const pass = readPassphraseFile(passFile);
  copyFileSync(join(caDir, 'ca.pem'), join(ahDir, 'ca.pem'));
  // the secrets file as a first encrypted start leaves it
  const secretsPath = join(ahDir, 'secrets.json');
  const secrets = loadOrCreateSecrets(secretsPath, pass);
  const before = readFileSync(secretsPath, 'utf8');
  const shop = await issueToDir(caDir, { role: 'merchant', id: 'shop-k', passphrase: pass });
  const buyer = await issueToDir(caDir, { role: 'buyer', id: 'kim', passphrase: pass });
  const storeConfig = join(tmp.path, 'store.json');
  writeFileSync(
    storeConfig,
    JSON.stringify({
      id: 'shop-k',
      home: 'home',
      name: 'Shop K',
      categories: ['laptops'],
      identity: { ca: join(caDir, 'ca.pem'), cert: shop.certPath, key: shop.keyPath },
      template: { title: 'Sale of goods', seller: { name: 'Shop K Ltd' }, clauses: ['Delivery to the buyer.'] },
      catalogue: [{ item: 'laptop-pro-14', category: 'laptops', currency: 'EUR', stock: 5, bids: [{ price: 1300, deliveryDays: 4, warrantyMonths: 12 }] }],
    }),
  );
  const ah = spawnParley(['home', 'start', '--nats', nats.url, '--passphrase-file', passFile, '--json'], env);
  const store = spawnParley(['store', 'start', '--config', storeConfig, '--nats', nats.url, '--json'], { ...env, PARLEY_PASSPHRASE_FILE: passFile });
  daemons.push(ah, store);
  const [a, s, init] = await Promise.all([
    ah.firstJson<{ status: string }>(),
    store.firstJson<{ status: string }>(),
    parley(['buyer', 'init', '--id', 'kim', '--cert', buyer.certPath, '--key', buyer.keyPath, '--ca', join(caDir, 'ca.pem'), '--home-id', 'home', '--passphrase-file', passFile, '--json']),
  ]);
  assert.is(a.status, 'running', ah.stderr());
  assert.is(s.status, 'running', store.stderr());
  assert.is(init.status, 0, init.stderr);
  encryptedKey(join(home, 'buyer', 'identity.key'));

  // the running Agent Home seals with the key from the encrypted secrets file
  const nc = await nats.connectAs('kim', 'check');
  const reply = decodeReply(EncryptionKeyReplySchema, (await nc.request(subjects.home('home', 'key'), new Uint8Array(0), { timeout: 5000 })).data);
  assert.is(reply.key.body.x25519, toB64u(secrets.encryption.publicKey));
  assert.is(readFileSync(secretsPath, 'utf8'), before, 'the secrets file was not rewritten');
  assert.is(mode(secretsPath), 0o600);

  // a purchase session: its session key (d2 among it) is sealed in the session file
  const req = await parley(['buyer', 'request', '--item', 'laptop-pro-14', '--category', 'laptops', '--quantity', '1', '--rules', join(REPO_ROOT, 'examples', 'rules.json'), '--deadline', '4s', '--nats', nats.url, '--passphrase-file', passFile, '--json']);
  assert.is(req.status, 0, req.stderr);
  const sn = (JSON.parse(req.stdout) as { sn: string }).sn;
  const sessionPath = join(home, 'buyer', 'sessions', `${sn}.json`);
  const onDisk = readFileSync(sessionPath, 'utf8');
  const stored = JSON.parse(onDisk) as { key: { sealed?: number } };
  assert.is(stored.key.sealed, 1, 'the key field is sealed');
  assert.not.match(onDisk, /"d2"|"d1"|"jwk"/, 'no key material in clear');
  assert.is(mode(sessionPath), 0o600);
  encryptedKey(join(home, 'buyer', 'files.key'));
  const noPass = await parley(['buyer', 'results', sn, '--nats', nats.url, '--json']);
  assert.is(noPass.status, 1, 'without the passphrase nothing opens');
  assert.match(noPass.stdout + noPass.stderr, /ERR_PASSPHRASE/, noPass.stdout + noPass.stderr);
  const results = await parley(['buyer', 'results', sn, '--nats', nats.url, '--passphrase-file', passFile, '--json']);
  assert.is(results.status, 0, results.stderr);
  outputs.push(req.stdout, req.stderr, results.stdout, noPass.stderr);

  assert.is(await ah.stop(), 0, ah.stderr());
  assert.is(await store.stop(), 0, store.stderr());
  outputs.push(ah.stderr(), store.stderr());
  for (const out of outputs) assert.not.ok(out.includes(PASSPHRASE), 'a passphrase was printed');
});

test.run();
