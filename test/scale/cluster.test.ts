/**
 * Beyond one broker: a three-node nats-server cluster on loopback, the Agent Home's buckets
 * at 3 replicas, every party connected with all three URLs. Killing one node during a
 * session does not stop the session from completing, nor the contract from being signed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { startNatsCluster, type NatsCluster } from '../../agents/transport/cluster.js';
import { connectNats } from '../../agents/transport/connect.js';
import { subjectPatterns } from '../../protocol/subjects.js';
import { testPki } from '../helpers/parties.js';
import { tempDir } from '../helpers/paths.js';
import { EXAMPLES, LAPTOPS, exampleRules, eventually } from '../helpers/world.js';
import { AgentHome } from '../../agent-home/service.js';
import { generateHomeSecrets } from '../../agent-home/secrets.js';
import { StoreDaemon } from '../../store/daemon.js';
import { parseStoreConfig } from '../../store/config.js';
import { BuyerClient, newSessionKey } from '../../buyer-cli/client.js';
import { BuyerFiles } from '../../buyer-cli/state.js';
import { ed25519PrivateKeyPem } from '../../crypto/ed25519.js';
import { checkContract } from '../../protocol/contract.js';

const test = suite('three-node cluster');
const tmp = tempDir('parley-cluster-');
let cluster: NatsCluster;
const conns: NatsConnection[] = [];
const stops: Array<() => Promise<void>> = [];

test.after(async () => {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  await Promise.allSettled(conns.map((c) => c.close()));
  await cluster?.stop();
  tmp.remove();
});

test('a session completes and signs while one of three nodes is killed', async () => {
  cluster = await startNatsCluster(3);
  // each party prefers a different node but knows all three
  const connect = async (name: string, first: number) => {
    const urls = [...cluster.urls.slice(first), ...cluster.urls.slice(0, first)];
    const nc = await connectNats({ servers: urls, name, inboxPrefix: subjectPatterns.inboxPrefix(name) });
    conns.push(nc);
    return nc;
  };
  const pki = await testPki();
  const homeSelf = await pki.party('home', 'agent-home');
  // JetStream needs a meta leader before replicated buckets can be made
  let home: AgentHome | undefined;
  await eventually('replicated buckets', async () => {
    try {
      home = await AgentHome.open({ nc: await connect('home', 0), self: homeSelf, trust: pki.trust, ca: pki.ca.certificate, secrets: generateHomeSecrets(), replicas: 3, settings: { hopTimeoutMs: 1500 }, log: (l) => process.env.PARLEY_TEST_LOG && console.log('AH', l) });
      return true;
    } catch {
      return undefined;
    }
  }, 30_000);
  await home!.start();
  stops.push(() => home!.stop());

  for (const [i, file] of ['store-a.json', 'store-b.json'].entries()) {
    const raw = JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as { id: string };
    const self = await pki.party(raw.id, 'merchant');
    const dir = join(tmp.path, raw.id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'ca.pem'), pki.ca.certificate.pem);
    writeFileSync(join(dir, `${raw.id}.pem`), self.certPem);
    writeFileSync(join(dir, `${raw.id}.key`), ed25519PrivateKeyPem(self.secretKey), { mode: 0o600 });
    const store = await StoreDaemon.open({ nc: await connect(raw.id, i + 1), config: parseStoreConfig(raw, dir), self, trust: pki.trust, ca: pki.ca.certificate, dataDir: join(dir, 'data'), log: (l) => process.env.PARLEY_TEST_LOG && console.log(raw.id, l) });
    await store.start();
    stops.push(() => store.stop());
  }
  await eventually('stores registered', async () => ((await home!.state.merchants()).length === 2 ? true : undefined), 20_000);

  const buyerSelf = await pki.party('alice', 'buyer');
  const buyer = new BuyerClient({ nc: await connect('alice', 2), self: buyerSelf, trust: pki.trust, ca: pki.ca.certificate, home: 'home', files: new BuyerFiles(join(tmp.path, 'alice')) });
  const session = await buyer.request({ request: LAPTOPS, rules: exampleRules(), deadline: new Date(Date.now() + 60_000), sessionKey: await newSessionKey() });

  // the node the buyer and shop-b prefer dies mid-session
  cluster.servers[2]!.kill();
  const results = await buyer.waitForResults(session.sn);
  assert.is(results.status, 'complete');
  assert.is(results.agreements.length, 2);
  const signed = await buyer.sign(session.sn, results.agreements[0]!.merchant);
  assert.is(signed.state, 'complete');
  assert.ok(checkContract(JSON.parse(readFileSync(signed.contractFile!, 'utf8')), pki.ca.certificate).valid);
});

test.run();
