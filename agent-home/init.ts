/**
 * `parley home init`: the files of a secured broker for one Agent Home, in one directory
 * (default `<home>/agent-home/broker`):
 *
 *   server.conf           nats-server configuration (agent-home/broker-config.ts)
 *   parties.json          the party list it is generated from: id, role, nkey public key
 *   tls/ca.pem, ca.key    the CA clients trust (`--tls-ca`); ca.key 0600, absent with --ca
 *   tls/server.pem, .key  the server's certificate for 127.0.0.1 and localhost (key 0600)
 *   nkeys/<id>.nk         each party's nkey seed (0600), handed to that party only
 *   nkeys/<home>.service.nk  the Agent Home's second seed: the user that answers requests
 *                         (`console`: the read-only party of `parley home console`, always added)
 *
 * Adding a party keeps every existing key and rewrites parties.json and server.conf.
 * Every file is written atomically; seeds and private keys are never printed.
 */
import { readText } from '../cli/kit/read-text.js';
import { createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createUser, fromSeed } from 'nkeys.js';
import { createFileAtomic, readJsonFile, writeFileAtomic, writeJsonAtomic } from '../agents/storage/atomic-file.js';
import { createTlsCa, issueTlsServerCertificate, type TlsKeyPair } from '../crypto/x509/tls.js';
import { parleyError } from '../protocol/errors.js';
import { checkPartyId } from '../protocol/subjects.js';
import { CONSOLE_PARTY } from './console-access.js';
import { brokerConfig, checkParties, inboxPrefixOf, isBrokerRole, type BrokerParty, type BrokerRole } from './broker-config.js';

/** Names the server certificate is for: clients dial the loopback address. */
export const DEFAULT_TLS_HOSTS = ['127.0.0.1', 'localhost'];

export interface BrokerPaths {
  dir: string;
  config: string;
  parties: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  seed(id: string): string;
  /** the Agent Home's service user (broker-config.ts) */
  serviceSeed(home: string): string;
}

export function brokerPaths(dir: string): BrokerPaths {
  const d = resolve(dir);
  return {
    dir: d,
    config: join(d, 'server.conf'),
    parties: join(d, 'parties.json'),
    caCert: join(d, 'tls', 'ca.pem'),
    caKey: join(d, 'tls', 'ca.key'),
    serverCert: join(d, 'tls', 'server.pem'),
    serverKey: join(d, 'tls', 'server.key'),
    seed: (id) => join(d, 'nkeys', `${checkPartyId(id)}.nk`),
    serviceSeed: (home) => join(d, 'nkeys', `${checkPartyId(home, 'home id')}.service.nk`),
  };
}

/** `<home>/agent-home/broker`. */
export function defaultBrokerDir(parleyHomeDir: string): string {
  return join(parleyHomeDir, 'agent-home', 'broker');
}

export interface PartySpec {
  role: BrokerRole;
  id: string;
}

/** Parses `role:id` (e.g. `merchant:shop-a`). */
export function parsePartySpec(spec: string): PartySpec {
  const i = spec.indexOf(':');
  const role = spec.slice(0, i);
  const id = spec.slice(i + 1);
  if (i < 0 || !isBrokerRole(role)) throw parleyError('ERR_CONFIG', `${JSON.stringify(spec)}: expected role:id with role agent-home, merchant, buyer or console`);
  checkPartyId(id);
  return { role, id };
}

interface PartiesFile {
  v: 1;
  home: string;
  parties: BrokerParty[];
}

export interface BrokerSummary {
  dir: string;
  config: string;
  home: string;
  tlsCa: string;
  parties: Array<PartySpec & { nkey: string; seedFile: string }>;
  /** parties created by this call */
  added: string[];
}

export interface InitOptions {
  dir: string;
  /** the Agent Home's id */
  home: string;
  /** further parties (the Agent Home is always one) */
  parties?: PartySpec[];
  /** an existing CA to sign the server certificate instead of a new one */
  ca?: { cert: string; key: string };
  hosts?: string[];
  /** replace an existing broker directory (new keys for everyone) */
  force?: boolean;
}

function readParties(paths: BrokerPaths): PartiesFile {
  const f = readJsonFile<PartiesFile>(paths.parties);
  if (!f) throw parleyError('ERR_FILE_NOT_FOUND', `no broker in ${paths.dir}: run \`parley home init\` first`);
  if (f.v !== 1 || typeof f.home !== 'string' || !Array.isArray(f.parties)) throw parleyError('ERR_CONFIG', `${paths.parties} is not a broker party list`);
  checkParties(f.home, f.parties);
  return f;
}

/** A new nkey user for `id`; its seed goes to nkeys/<id>.nk (0600), its public key is returned. */
function newSeed(paths: BrokerPaths, id: string, replace: boolean, file = paths.seed(id)): string {
  const kp = createUser();
  const seed = new TextDecoder().decode(kp.getSeed());
  if (replace) writeFileAtomic(file, `${seed}\n`, 0o600);
  else if (!createFileAtomic(file, `${seed}\n`, 0o600)) throw parleyError('ERR_FILE_EXISTS', `${file} exists: the party ${id} already has a key`);
  return kp.getPublicKey();
}

function dedupe(specs: PartySpec[]): PartySpec[] {
  const seen = new Map<string, PartySpec>();
  for (const s of specs) {
    const prior = seen.get(s.id);
    if (prior && prior.role !== s.role) throw parleyError('ERR_CONFIG', `party id ${s.id} given as ${prior.role} and ${s.role}; ids must be unique across roles`);
    seen.set(s.id, s);
  }
  return [...seen.values()];
}

function writeConfig(paths: BrokerPaths, file: PartiesFile): void {
  const text = brokerConfig({ home: file.home, parties: file.parties, tls: { certFile: paths.serverCert, keyFile: paths.serverKey } });
  writeJsonAtomic(paths.parties, file);
  writeFileAtomic(paths.config, text, 0o644);
}

function summary(paths: BrokerPaths, file: PartiesFile, added: string[]): BrokerSummary {
  return {
    dir: paths.dir,
    config: paths.config,
    home: file.home,
    tlsCa: paths.caCert,
    parties: file.parties.map((p) => ({ role: p.role, id: p.id, nkey: p.nkey, seedFile: paths.seed(p.id) })),
    added,
  };
}

async function tlsFiles(paths: BrokerPaths, opts: InitOptions): Promise<void> {
  let ca: TlsKeyPair;
  if (opts.ca) {
    ca = { certPem: readText(opts.ca.cert, 'TLS CA certificate'), keyPem: readText(opts.ca.key, 'TLS CA key') };
    try {
      createPrivateKey(ca.keyPem);
    } catch (e) {
      throw parleyError('ERR_KEY_FILE', `${opts.ca.key} is not an unencrypted PEM private key`, e);
    }
    writeFileAtomic(paths.caCert, ca.certPem, 0o644);
  } else {
    ca = await createTlsCa({ name: `Parley broker CA (${opts.home})` });
    writeFileAtomic(paths.caKey, ca.keyPem, 0o600);
    writeFileAtomic(paths.caCert, ca.certPem, 0o644);
  }
  const server = await issueTlsServerCertificate(ca, { hosts: opts.hosts ?? DEFAULT_TLS_HOSTS });
  writeFileAtomic(paths.serverKey, server.keyPem, 0o600);
  writeFileAtomic(paths.serverCert, server.certPem, 0o644);
}

/** Creates the broker directory: TLS CA and server certificate, a seed per party, the config. */
export async function initBroker(opts: InitOptions): Promise<BrokerSummary> {
  const paths = brokerPaths(opts.dir);
  checkPartyId(opts.home, 'home id');
  if (existsSync(paths.parties) && !opts.force) throw parleyError('ERR_FILE_EXISTS', `${paths.dir} already holds a broker; use --add-party to add parties, or --force to start over`);
  const given = opts.parties ?? [];
  // the read-only party of `parley home console`, unless the list names one (or the id is taken)
  const consoleParty: PartySpec[] = given.some((p) => p.role === 'console' || p.id === CONSOLE_PARTY) || opts.home === CONSOLE_PARTY ? [] : [{ role: 'console', id: CONSOLE_PARTY }];
  const specs = dedupe([{ role: 'agent-home', id: opts.home }, ...given, ...consoleParty]);
  const others = specs.filter((s) => s.role === 'agent-home' && s.id !== opts.home);
  if (others.length) throw parleyError('ERR_CONFIG', `the Agent Home is ${opts.home}; another agent-home party (${others[0]!.id}) cannot be added`);
  mkdirSync(join(paths.dir, 'nkeys'), { recursive: true, mode: 0o700 });
  mkdirSync(join(paths.dir, 'tls'), { recursive: true, mode: 0o700 });
  chmodSync(join(paths.dir, 'nkeys'), 0o700);
  await tlsFiles(paths, opts);
  const parties: BrokerParty[] = specs.map((s) => ({ id: s.id, role: s.role, nkey: newSeed(paths, s.id, true) }));
  parties[0]!.serviceNkey = newSeed(paths, opts.home, true, paths.serviceSeed(opts.home));
  const file: PartiesFile = { v: 1, home: opts.home, parties };
  writeConfig(paths, file);
  return summary(paths, file, specs.map((s) => s.id));
}

/** Adds parties to an existing broker directory (existing keys are kept) and rewrites the config. */
export function addBrokerParties(dir: string, specs: PartySpec[]): BrokerSummary {
  const paths = brokerPaths(dir);
  const file = readParties(paths);
  const added: string[] = addServiceKey(paths, file) ? [`${file.home} (service key)`] : [];
  for (const s of dedupe(specs)) {
    const known = file.parties.find((p) => p.id === s.id);
    if (known) {
      if (known.role !== s.role) throw parleyError('ERR_CONFIG', `party ${s.id} is already a ${known.role}`);
      continue;
    }
    if (s.role === 'agent-home') throw parleyError('ERR_CONFIG', `the Agent Home is ${file.home}; another agent-home party (${s.id}) cannot be added`);
    file.parties.push({ id: s.id, role: s.role, nkey: newSeed(paths, s.id, false) });
    added.push(s.id);
  }
  if (added.length) writeConfig(paths, file);
  return summary(paths, file, added);
}

/**
 * Brokers made before the Agent Home had a separate service user get one: a new seed, and
 * the config rewritten. True when it was added (the running server must reload).
 */
function addServiceKey(paths: BrokerPaths, file: PartiesFile): boolean {
  const home = file.parties.find((p) => p.role === 'agent-home')!;
  if (home.serviceNkey) return false;
  home.serviceNkey = newSeed(paths, home.id, true, paths.serviceSeed(home.id));
  return true;
}

/** Adds the Agent Home's service user if the broker in `dir` lacks one; true when it did. */
export function upgradeBroker(dir: string): boolean {
  const paths = brokerPaths(dir);
  const file = readParties(paths);
  if (!addServiceKey(paths, file)) return false;
  writeConfig(paths, file);
  return true;
}

/** The broker described by `dir`, if there is one. */
export function readBroker(dir: string): BrokerSummary | undefined {
  const paths = brokerPaths(dir);
  if (!existsSync(paths.parties)) return undefined;
  return summary(paths, readParties(paths), []);
}

/**
 * How one party connects to this broker: its seed, the CA, its inbox prefix (none for the
 * Agent Home's JetStream user). `service` asks for the Agent Home's service user.
 */
export function brokerConnection(dir: string, id: string, service = false): { nkeySeedFile: string; tlsCaFile: string; inboxPrefix?: string } {
  const paths = brokerPaths(dir);
  // the seed must belong to the key the config lists for this party
  const listed = readParties(paths).parties.find((p) => p.id === id);
  if (!listed) throw parleyError('ERR_CONFIG', `party ${id} is not in ${paths.parties}`);
  if (service && listed.role !== 'agent-home') throw parleyError('ERR_CONFIG', `party ${id} is a ${listed.role}; only the Agent Home has a service user`);
  const seedFile = service ? paths.serviceSeed(id) : paths.seed(id);
  const expected = service ? listed.serviceNkey : listed.nkey;
  if (!expected) throw parleyError('ERR_CONFIG', `the Agent Home ${id} has no service key in ${paths.parties}: run \`parley home start\` or \`parley home init --add-party\` to add it`);
  const seed = readText(seedFile, 'nkey seed').trim();
  let publicKey: string;
  try {
    publicKey = fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } catch (e) {
    throw parleyError('ERR_KEY_FILE', `${seedFile} is not an nkey seed`, e);
  }
  if (publicKey !== expected) throw parleyError('ERR_KEY_FILE', `${seedFile} does not hold the key the broker lists for ${id}`);
  const inboxPrefix = inboxPrefixOf(service ? 'agent-home-service' : listed.role, id);
  return { nkeySeedFile: seedFile, tlsCaFile: paths.caCert, ...(inboxPrefix ? { inboxPrefix } : {}) };
}
