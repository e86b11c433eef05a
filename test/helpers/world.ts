/**
 * A whole Parley deployment for end-to-end tests, in this process but on a real
 * nats-server, with the same classes the daemons run: a CA, an Agent Home, stores built
 * from examples/store-*.json, and buyers. Each party has its own NATS connection.
 * A `wiretap` records every message on Parley's subjects, for the anonymity and optimism
 * properties. With `broker`, the server runs the configuration of `parley home init`
 * (TLS, one nkey per party, per-role permissions) and each party connects with its own
 * credentials and inbox prefix; there is no wiretap then (nobody may listen to everything).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection, Subscription } from 'nats';
import { natsSuite, type NatsSuite, type SuiteHooks } from './nats.js';
import { testPki, type TestPki } from './parties.js';
import { REPO_ROOT, tempDir } from './paths.js';
import type { Self } from '../../agents/runtime/trust.js';
import { AgentHome } from '../../agent-home/service.js';
import { generateHomeSecrets } from '../../agent-home/secrets.js';
import type { HomeSettings } from '../../agent-home/context.js';
import { StoreDaemon } from '../../store/daemon.js';
import { parseStoreConfig, type StoreConfig } from '../../store/config.js';
import { BuyerClient } from '../../buyer-cli/client.js';
import { BuyerFiles } from '../../buyer-cli/state.js';
import type { PurchaseRequest } from '../../protocol/commerce.js';
import { brokerConnection, brokerPaths, initBroker } from '../../agent-home/init.js';
import { subjectPatterns } from '../../protocol/subjects.js';

export const EXAMPLES = join(REPO_ROOT, 'examples');
export const LAPTOPS: PurchaseRequest = { item: 'laptop-pro-14', category: 'laptops', quantity: 2, currency: 'EUR', attributes: { ram: '32GB' } };

export function exampleRules(): unknown {
  return JSON.parse(readFileSync(join(EXAMPLES, 'rules.json'), 'utf8'));
}

export interface Captured {
  subject: string;
  text: string;
  at: number;
}

export interface StoreHandle {
  id: string;
  self: Self;
  config: StoreConfig;
  daemon: StoreDaemon;
  dataDir: string;
  nc: NatsConnection;
}

export interface World {
  nats: NatsSuite;
  pki: TestPki;
  dir: string;
  home: AgentHome;
  homeSelf: Self;
  stores: Map<string, StoreHandle>;
  /** every message seen on parley.v1.> since the world started */
  wire: Captured[];
  buyer(id: string): Promise<{ client: BuyerClient; self: Self; files: BuyerFiles }>;
  /** starts (or restarts) a store from examples/<file> with overrides */
  startStore(file: string, overrides?: Record<string, unknown>): Promise<StoreHandle>;
  stopStore(id: string): Promise<void>;
  restartHome(): Promise<void>;
  /** with `broker`: its directory (server.conf, tls/, nkeys/) and how a party connects */
  broker?: { dir: string; connect(id: string, name?: string): Promise<NatsConnection> };
}

export interface WorldOptions {
  stores?: string[];
  settings?: Partial<HomeSettings>;
  /** run the server secured by `parley home init`, with these buyers besides the Agent Home and the stores */
  broker?: { buyers: string[] };
}

export function worldSuite(suite: SuiteHooks, opts: WorldOptions = {}): World {
  const tmp = tempDir('parley-world-');
  const brokerDir = opts.broker ? join(tmp.path, 'broker') : undefined;
  if (brokerDir) {
    // registered before the server's own hook, which needs the configuration
    suite.before(async () => {
      const stores = (opts.stores ?? ['store-a.json', 'store-b.json', 'store-c.json']).map((f) => (JSON.parse(readFileSync(join(EXAMPLES, f), 'utf8')) as { id: string }).id);
      const parties = [...stores.map((id) => ({ role: 'merchant' as const, id })), ...opts.broker!.buyers.map((id) => ({ role: 'buyer' as const, id }))];
      await initBroker({ dir: brokerDir, home: 'home', parties });
    });
  }
  const nats = natsSuite(suite, brokerDir ? { configFile: brokerPaths(brokerDir).config, storeDir: join(tmp.path, 'jetstream') } : {});
  /** a connection as party `id` (its own credentials on a secured server), replying on its own inbox */
  const connectAs = (id: string, name: string) => nats.connect(name, brokerDir ? brokerConnection(brokerDir, id) : { inboxPrefix: subjectPatterns.inboxPrefix(id) });
  let homeJs: NatsConnection | undefined;
  const secrets = generateHomeSecrets();
  const selves = new Map<string, Self>();
  let tap: Subscription | undefined;
  let homeNc: NatsConnection | undefined;
  const w: Partial<World> & { stores: Map<string, StoreHandle>; wire: Captured[] } = { stores: new Map(), wire: [] };

  const openHome = async () => {
    // the Agent Home's service user answers requests; on a secured server JetStream is another user's
    homeNc = brokerDir ? await nats.connect('parley-home-service', brokerConnection(brokerDir, 'home', true)) : await connectAs('home', 'parley-home');
    homeJs = brokerDir ? await connectAs('home', 'parley-home') : homeNc;
    w.home = await AgentHome.open({ nc: homeNc, jetstream: homeJs, self: w.homeSelf!, trust: w.pki!.trust, ca: w.pki!.ca.certificate, secrets, settings: { hopTimeoutMs: 1000, ...opts.settings } });
    await w.home.start();
  };

  w.startStore = async (file, overrides = {}) => {
    const raw = { ...(JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as { id: string }), ...overrides };
    const self = selves.get(raw.id) ?? (await w.pki!.party(raw.id, 'merchant'));
    selves.set(raw.id, self);
    const dir = join(tmp.path, 'stores', raw.id);
    mkdirSync(dir, { recursive: true });
    w.pki!.writeFiles(dir, self);
    const config = parseStoreConfig(raw, dir);
    const nc = await connectAs(raw.id, `parley-store-${raw.id}`);
    const dataDir = join(dir, 'data');
    const daemon = await StoreDaemon.open({ nc, config, self, trust: w.pki!.trust, ca: w.pki!.ca.certificate, dataDir });
    await daemon.start();
    const h = { id: raw.id, self, config, daemon, dataDir, nc };
    w.stores.set(raw.id, h);
    return h;
  };

  w.stopStore = async (id) => {
    const h = w.stores.get(id);
    if (!h) return;
    await h.daemon.stop();
    await h.nc.close();
    w.stores.delete(id);
  };

  w.restartHome = async () => {
    await w.home!.stop();
    await homeNc!.close();
    if (homeJs !== homeNc) await homeJs!.close();
    await openHome();
  };

  w.buyer = async (id) => {
    const self = selves.get(id) ?? (await w.pki!.party(id, 'buyer'));
    selves.set(id, self);
    const files = new BuyerFiles(join(tmp.path, 'buyers', id));
    const nc = await connectAs(id, `parley-buyer-${id}`);
    return { client: new BuyerClient({ nc, self, trust: w.pki!.trust, ca: w.pki!.ca.certificate, home: w.homeSelf!.id, files }), self, files };
  };

  suite.before(async () => {
    w.pki = await testPki();
    w.homeSelf = await w.pki.party('home', 'agent-home');
    if (!brokerDir) {
      const tapNc = await nats.connect('wiretap');
      tap = tapNc.subscribe('parley.v1.>', { callback: (_e, m) => w.wire.push({ subject: m.subject, text: new TextDecoder().decode(m.data), at: Date.now() }) });
    }
    await openHome();
    for (const f of opts.stores ?? ['store-a.json', 'store-b.json', 'store-c.json']) await w.startStore!(f);
    // wait until every store is in the directory
    for (let i = 0; i < 100 && (await w.home!.state.merchants()).length < w.stores.size; i++) await new Promise((r) => setTimeout(r, 50));
  });

  suite.after(async () => {
    tap?.unsubscribe();
    for (const id of [...w.stores.keys()]) await w.stopStore!(id).catch(() => undefined);
    await w.home?.stop().catch(() => undefined);
    tmp.remove();
  });

  Object.defineProperty(w, 'nats', { value: nats });
  if (brokerDir) w.broker = { dir: brokerDir, connect: (id, name = `parley-${id}`) => connectAs(id, name) };
  Object.defineProperty(w, 'dir', { get: () => tmp.path });
  return w as World;
}

/** Polls `fn` until it returns a value (or fails after `ms`). */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Opens a session for the example laptops request and waits until every merchant answered. */
export async function negotiated(client: BuyerClient, opts: { deadlineMs?: number; request?: PurchaseRequest } = {}) {
  const { newSessionKey } = await import('../../buyer-cli/client.js');
  const session = await client.request({ request: opts.request ?? LAPTOPS, rules: exampleRules(), deadline: new Date(Date.now() + (opts.deadlineMs ?? 60_000)), sessionKey: await sharedKey(newSessionKey) });
  const results = await client.waitForResults(session.sn);
  return { session, results };
}

// Session keys take ~0.2 s each to generate; tests draw fresh ones from a small pool.
const pool: Array<Promise<import('../../buyer-cli/session-key.js').SessionKey>> = [];
async function sharedKey(make: () => Promise<import('../../buyer-cli/session-key.js').SessionKey>) {
  while (pool.length < 2) pool.push(make());
  return pool.shift()!;
}
