/**
 * `parley store start|contracts` as a user runs them: the daemon in a child process with a
 * config file (identity paths relative to it), registering with a real Agent Home, stopping
 * cleanly on SIGTERM; a clear ERR_CONFIG when no NATS server is known; the contract list
 * for people and as JSON.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { natsSuite } from '../helpers/nats.js';
import { testPki, type TestPki } from '../helpers/parties.js';
import { tempDir } from '../helpers/paths.js';
import { jsonOf, parleySync, spawnParley } from '../helpers/cli.js';
import { AgentHome } from '../../agent-home/service.js';
import { generateHomeSecrets } from '../../agent-home/secrets.js';
import { StoreFiles, type ContractRecord } from '../../store/files.js';
import type { ContractSummary } from '../../store/listing.js';

const test = suite('parley store');
const nats = natsSuite(test);
const tmp = tempDir('parley-store-cli-');
const homeDir = join(tmp.path, 'home');
const configFile = join(tmp.path, 'shop', 'store.json');
const env = { PARLEY_HOME: homeDir, PARLEY_NATS_URL: '' };

let pki: TestPki;
let home: AgentHome;

test.before(async () => {
  pki = await testPki();
  const shop = await pki.party('shop-x', 'merchant');
  const dir = join(tmp.path, 'shop');
  mkdirSync(join(dir, 'keys'), { recursive: true });
  pki.writeFiles(join(dir, 'keys'), shop);
  writeFileSync(
    configFile,
    JSON.stringify({
      id: 'shop-x',
      home: 'home',
      name: 'Shop X',
      categories: ['laptops'],
      identity: { ca: 'keys/ca.pem', cert: 'keys/shop-x.pem', key: 'keys/shop-x.key' },
      template: { title: 'Sale of goods', seller: { name: 'Shop X Ltd' }, clauses: ['Delivery to the buyer.'] },
      catalogue: [{ item: 'laptop-pro-14', category: 'laptops', currency: 'EUR', stock: 5, bids: [{ price: 1300, deliveryDays: 4, warrantyMonths: 12 }] }],
    }),
  );
  home = await AgentHome.open({ nc: await nats.connectAs('home'), self: await pki.party('home', 'agent-home'), trust: pki.trust, ca: pki.ca.certificate, secrets: generateHomeSecrets() });
  await home.start();
});

test.after(async () => {
  await home?.stop();
  tmp.remove();
});

test('start runs until SIGTERM, registered with its Agent Home, data under <home>/store/<id>', async () => {
  const d = spawnParley(['store', 'start', '--config', configFile, '--home', homeDir, '--nats', nats.url, '--json'], env);
  try {
    const out = await d.firstJson<{ id: string; status: string; nats: string; natsSource: string; dataDir: string; home: string }>();
    assert.equal([out.id, out.status, out.nats, out.natsSource, out.home], ['shop-x', 'running', nats.url, '--nats', 'home']);
    assert.is(out.dataDir, join(homeDir, 'store', 'shop-x'));
    const end = Date.now() + 10_000;
    while (!(await home.state.merchants()).some((m) => m.id === 'shop-x')) {
      if (Date.now() > end) assert.unreachable(`not registered; stderr: ${d.stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    const code = await d.stop('SIGTERM');
    assert.is(code, 0, `stops cleanly; stderr: ${d.stderr()}`);
  }
});

test('start without any NATS server known is a configuration error naming --nats', () => {
  const r = parleySync(['store', 'start', '--config', configFile, '--home', homeDir, '--json'], env);
  assert.is(r.status, 1);
  const e = jsonOf<{ error: { code: string; message: string } }>(r).error;
  assert.is(e.code, 'ERR_CONFIG');
  assert.match(e.message, /--nats/);
});

test('contracts lists what the store signed, as a table and as JSON', async () => {
  const files = new StoreFiles(join(homeDir, 'store', 'shop-x'));
  const at = '2026-01-02T03:04:05.000Z';
  const rec: ContractRecord = {
    v: 1,
    contractId: 'A'.repeat(43),
    state: 'complete',
    sn: 'ab'.repeat(16),
    home: 'home',
    buyer: 'alice',
    terms: { item: 'laptop-pro-14', quantity: 2, currency: 'EUR', price: 1300, deliveryDays: 4, warrantyMonths: 12 },
    issuedAt: at,
    completeBy: at,
    exchangeDeadline: at,
    resolveAt: at,
    payload: 'e30',
    protected: 'e30',
    sg1: 'AA',
    merchantSignature: { protected: 'e30', signature: 'AA' },
    countersignedAt: at,
    sg: 'AA',
    contract: { payload: 'e30', signatures: [] },
    updated: at,
  };
  await files.saveContract(rec);

  const table = parleySync(['store', 'contracts', '--config', configFile, '--home', homeDir], env);
  assert.is(table.status, 0, table.stderr);
  assert.match(table.stdout, /CONTRACT\s+STATE\s+SESSION\s+BUYER\s+ITEM/);
  assert.match(table.stdout, /AAAAAAAAAAAA\s+complete\s+abababababab\s+alice\s+laptop-pro-14\s+2\s+1300\.00\s+EUR/);
  assert.ok(table.stdout.includes(files.jwsPath(rec.contractId)), 'names the contract file');

  const json = jsonOf<{ store: string; contracts: ContractSummary[] }>(parleySync(['store', 'contracts', '--id', 'shop-x', '--home', homeDir, '--json'], env));
  assert.is(json.store, 'shop-x');
  assert.equal(
    json.contracts.map((c) => [c.contractId, c.state, c.buyer, c.quantity, c.price, c.contractFile]),
    [[rec.contractId, 'complete', 'alice', 2, 1300, files.jwsPath(rec.contractId)]],
  );
});

test('contracts needs --config or --id (usage error, exit 2)', () => {
  const r = parleySync(['store', 'contracts', '--home', homeDir, '--json'], env);
  assert.is(r.status, 2);
  assert.is(jsonOf<{ error: { code: string } }>(r).error.code, 'ERR_USAGE');
});

test.run();
