/**
 * The broker configuration as data: the permission table of each role, every subject in it
 * built by protocol/subjects.ts, the party list checks, and the TLS certificates (a fresh
 * P-256 CA, or an existing Ed25519 CA such as Parley's own) accepted by nats-server and Node.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createUser } from 'nkeys.js';
import { brokerConfig, partyPermissions, type BrokerParty } from '../../agent-home/broker-config.js';
import { brokerConnection, brokerPaths, initBroker, parsePartySpec, upgradeBroker } from '../../agent-home/init.js';
import { readFileSync } from 'node:fs';
import { natsOptionsFrom } from '../../cli/kit/nats-options.js';
import { createTlsCa, issueTlsServerCertificate } from '../../crypto/x509/tls.js';
import { createCa } from '../../crypto/x509/index.js';
import { ed25519PrivateKeyPem } from '../../crypto/ed25519.js';
import { startNatsServer } from '../../agents/transport/nats-server.js';
import { connectNats } from '../../agents/transport/connect.js';
import { subjects } from '../../protocol/subjects.js';
import { rejectsCode, throwsCode } from '../helpers/assert.js';
import { tempDir } from '../helpers/paths.js';

const test = suite('broker configuration');
const tmp = tempDir('parley-broker-config-');
test.after(() => tmp.remove());

const key = () => createUser().getPublicKey();
const tls = { certFile: '/srv/tls/server.pem', keyFile: '/srv/tls/server.key' };

test('the permission table: each role may reach exactly what the protocol needs of it', () => {
  const ids = ['home', 'shop-a', 'alice'];
  assert.equal(partyPermissions('agent-home', 'home', 'home', ids), {
    publish: ['$JS.API.>', '$JS.ACK.>', '$JS.FC.>', '$KV.>', 'parley.v1.>'],
    subscribe: ['_INBOX.>'],
    deny: [],
  });
  // the user that answers requests reaches no JetStream subject and no other service
  assert.equal(partyPermissions('agent-home-service', 'home', 'home', ids), {
    publish: ['parley.v1.host.*.arrive', '_INBOX_alice.>', '_INBOX_shop-a.>'],
    subscribe: ['parley.v1.home.home.>', 'parley.v1.host.home.>', '_INBOX_home.>'],
    deny: ['$JS.>', '$KV.>', '$O.>', '$SYS.>'],
  });
  assert.equal(partyPermissions('merchant', 'shop-a', 'home', ids), {
    publish: ['parley.v1.host.*.arrive', 'parley.v1.host.home.progress', 'parley.v1.home.home.register', 'parley.v1.home.home.resolve', 'parley.v1.home.home.key', '_INBOX_alice.>', '_INBOX_home.>'],
    subscribe: ['parley.v1.host.shop-a.>', 'parley.v1.store.shop-a.>', '_INBOX_shop-a.>'],
    deny: ['$JS.>', '$KV.>', '$O.>', '$SYS.>'],
  });
  assert.equal(partyPermissions('buyer', 'alice', 'home', ids), {
    publish: [
      'parley.v1.home.home.notify',
      'parley.v1.home.home.results',
      'parley.v1.home.home.abort',
      'parley.v1.home.home.mailbox',
      'parley.v1.home.home.key',
      'parley.v1.store.*.contract.offer',
      'parley.v1.store.*.contract.complete',
    ],
    subscribe: ['_INBOX_alice.>'],
    deny: ['$JS.>', '$KV.>', '$O.>', '$SYS.>'],
  });
  // the same strings the services use
  const m = partyPermissions('merchant', 'shop-a', 'home');
  assert.ok(m.publish.includes(subjects.home('home', 'resolve')) && m.subscribe.includes(subjects.storeAll('shop-a')) && m.subscribe.includes(subjects.hostAll('shop-a')));
});

test('the configuration lists one nkey user per party (two for the Agent Home), none with allow_responses', () => {
  const parties: BrokerParty[] = [
    { id: 'alice', role: 'buyer', nkey: key() },
    { id: 'shop-a', role: 'merchant', nkey: key() },
    { id: 'home', role: 'agent-home', nkey: key(), serviceNkey: key() },
  ];
  const text = brokerConfig({ home: 'home', parties, tls });
  for (const p of parties) assert.ok(text.includes(`nkey: "${p.nkey}"`), p.id);
  assert.ok(text.includes(`nkey: "${parties[2]!.serviceNkey}"`), 'the service user');
  assert.is(text.match(/nkey: /g)?.length, 4);
  // nats-server lets a response through even where the deny list forbids the subject
  assert.not.ok(text.includes('allow_responses'), 'responders publish only to listed inboxes');
  assert.ok(text.includes('cert_file: "/srv/tls/server.pem"') && text.includes('verify: false'));
  assert.ok(text.indexOf('# agent-home home') < text.indexOf('# agent-home-service home') && text.indexOf('# agent-home-service home') < text.indexOf('# merchant shop-a') && text.indexOf('# merchant shop-a') < text.indexOf('# buyer alice'), 'stable order');
  assert.not.ok(/^\s*jetstream/m.test(text), 'JetStream is left to the including file');
  assert.is(brokerConfig({ home: 'home', parties: [...parties].reverse(), tls }), text, 'the same list gives the same file');
  throwsCode(() => brokerConfig({ home: 'home', parties: [parties[0]!, { id: 'home', role: 'agent-home', nkey: key() }], tls }), 'ERR_CONFIG', 'an Agent Home without its service user');
  throwsCode(() => brokerConfig({ home: 'home', parties: [{ ...parties[0]!, serviceNkey: key() }, parties[2]!], tls }), 'ERR_CONFIG', 'a service key on a buyer');
});

test('a broker made before the service user gets one on upgrade, once', async () => {
  const dir = join(tmp.path, 'old-broker');
  await initBroker({ dir, home: 'home', parties: [{ role: 'buyer', id: 'alice' }] });
  const paths = brokerPaths(dir);
  const file = JSON.parse(readFileSync(paths.parties, 'utf8')) as { parties: BrokerParty[] };
  const before = file.parties.find((p) => p.role === 'agent-home')!;
  assert.ok(before.serviceNkey, 'new brokers have it');
  delete before.serviceNkey;
  writeFileSync(paths.parties, JSON.stringify(file));
  throwsCode(() => brokerConnection(dir, 'home', true), 'ERR_CONFIG', 'an old broker: the service user is missing');
  assert.ok(upgradeBroker(dir), 'added');
  assert.not.ok(upgradeBroker(dir), 'only once');
  const svc = brokerConnection(dir, 'home', true);
  assert.is(svc.inboxPrefix, '_INBOX_home');
  assert.ok(readFileSync(paths.config, 'utf8').includes('# agent-home-service home'));
  assert.is(brokerConnection(dir, 'home').inboxPrefix, undefined, 'the JetStream user keeps the default inbox');
  throwsCode(() => brokerConnection(dir, 'alice', true), 'ERR_CONFIG', 'only the Agent Home has a service user');
});

test('party lists that would break isolation are refused', () => {
  const home = { id: 'home', role: 'agent-home' as const, nkey: key(), serviceNkey: key() };
  const cfg = (parties: BrokerParty[], h = 'home') => () => brokerConfig({ home: h, parties, tls });
  throwsCode(cfg([home, { id: 'shop-a', role: 'merchant', nkey: key() }, { id: 'shop-a', role: 'buyer', nkey: key() }]), 'ERR_CONFIG', 'one id in two roles would share an inbox');
  const shared = key();
  throwsCode(cfg([home, { id: 'a', role: 'buyer', nkey: shared }, { id: 'b', role: 'buyer', nkey: shared }]), 'ERR_CONFIG', 'one key for two parties');
  throwsCode(cfg([{ id: 'a', role: 'buyer', nkey: key() }]), 'ERR_CONFIG', 'no Agent Home');
  throwsCode(cfg([home, { id: 'home2', role: 'agent-home', nkey: key() }]), 'ERR_CONFIG', 'two Agent Homes');
  throwsCode(cfg([home], 'other'), 'ERR_CONFIG', 'the Agent Home listed is not the one named');
  const k = key();
  throwsCode(cfg([home, { id: 'a', role: 'buyer', nkey: k.slice(0, -1) + (k.endsWith('A') ? 'B' : 'A') }]), 'ERR_CONFIG', 'bad checksum');
  throwsCode(cfg([home, { id: 'a', role: 'buyer', nkey: new TextDecoder().decode(createUser().getSeed()) }]), 'ERR_CONFIG', 'a seed is not a public key');
  throwsCode(cfg([home, { id: 'shop.a', role: 'merchant', nkey: key() }]), 'ERR_INVALID_INPUT', 'a dot would reach other subjects');
  throwsCode(cfg([home, { id: '*', role: 'merchant', nkey: key() }]), 'ERR_INVALID_INPUT', 'a wildcard id');
  throwsCode(cfg([home, { id: 'x', role: 'arbiter' as never, nkey: key() }]), 'ERR_CONFIG', 'unknown role');
});

test('party specs on the command line: role:id, with a known role and a subject-safe id', () => {
  assert.equal(parsePartySpec('merchant:shop-a'), { role: 'merchant', id: 'shop-a' });
  assert.equal(parsePartySpec('agent-home:home'), { role: 'agent-home', id: 'home' });
  throwsCode(() => parsePartySpec('arbiter:x'), 'ERR_CONFIG');
  throwsCode(() => parsePartySpec('shop-a'), 'ERR_CONFIG');
  throwsCode(() => parsePartySpec('buyer:a.b'), 'ERR_INVALID_INPUT');
  throwsCode(() => parsePartySpec('buyer:'), 'ERR_INVALID_INPUT');
});

test('the CLI gives a party its own inbox prefix, on a secured and on an open server', () => {
  assert.is(natsOptionsFrom({ nkeySeedFile: '/x/alice.nk', nats: 'tls://h:1' }, 'parley-buyer-alice', 'alice').inboxPrefix, '_INBOX_alice');
  assert.is(natsOptionsFrom({ nats: 'nats://h:1' }, 'parley-buyer-alice', 'alice').inboxPrefix, '_INBOX_alice', 'responders answer only there');
});

test('TLS certificates: hosts are checked, the CA key must match, RSA CAs are refused', async () => {
  const ca = await createTlsCa();
  await rejectsCode(() => issueTlsServerCertificate(ca, { hosts: [] }), 'ERR_INVALID_INPUT');
  await rejectsCode(() => issueTlsServerCertificate(ca, { hosts: ['bad host'] }), 'ERR_INVALID_INPUT');
  const other = await createTlsCa();
  await rejectsCode(() => issueTlsServerCertificate({ certPem: ca.certPem, keyPem: other.keyPem }, { hosts: ['localhost'] }), 'ERR_KEY_INVALID', 'key of another CA');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  await rejectsCode(() => issueTlsServerCertificate({ certPem: ca.certPem, keyPem: rsa }, { hosts: ['localhost'] }), 'ERR_KEY_INVALID', 'RSA');
  const srv = await issueTlsServerCertificate(ca, { hosts: ['127.0.0.1', 'localhost', '::1'] });
  writeFileSync(join(tmp.path, 'p256-ca.pem'), ca.certPem);
  writeFileSync(join(tmp.path, 'p256-server.pem'), srv.certPem);
  const v = spawnSync('openssl', ['verify', '-CAfile', join(tmp.path, 'p256-ca.pem'), '-purpose', 'sslserver', '-verify_ip', '127.0.0.1', join(tmp.path, 'p256-server.pem')], { encoding: 'utf8' });
  assert.is(v.status, 0, v.stderr + v.stdout);
});

test('a server certificate from an Ed25519 CA (the Parley CA) is accepted by nats-server and by Node', async () => {
  const parleyCa = await createCa({ id: 'tls-test-ca' });
  const ca = { certPem: parleyCa.certificate.pem, keyPem: ed25519PrivateKeyPem(parleyCa.secretKey) };
  const srv = await issueTlsServerCertificate(ca, { hosts: ['127.0.0.1', 'localhost'] });
  const f = (n: string, t: string, mode = 0o644) => (writeFileSync(join(tmp.path, n), t, { mode }), join(tmp.path, n));
  const caFile = f('ed-ca.pem', ca.certPem);
  const conf = f('tls-only.conf', `tls {\n  cert_file: ${JSON.stringify(f('ed-server.pem', srv.certPem))}\n  key_file: ${JSON.stringify(f('ed-server.key', srv.keyPem, 0o600))}\n  timeout: 5\n}\n`);
  const server = await startNatsServer({ configFile: conf, readyTimeoutMs: 30_000 });
  try {
    const nc = await connectNats({ servers: server.url, tlsCaFile: caFile, failFast: true });
    assert.ok(nc.info?.tls_required);
    await nc.close();
  } finally {
    await server.stop();
  }
});

test.run();
