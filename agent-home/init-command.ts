/**
 * `parley home init`: installs the Agent Home's identity (agent-home/identity.ts: issued by
 * the local CA, or given with --cert/--key/--ca-cert; kept when already there), then
 * generates the secured broker of an Agent Home (agent-home/init.ts; not with --no-broker),
 * and what the other `parley home` commands need to use it: the embedded server runs the
 * generated configuration, and the Agent Home connects with its own nkey and the broker's CA.
 *
 *   parley home init [--id ID | --cert F --key F --ca-cert F] [--ca-dir D] [--no-broker] …
 *   parley home init [--home DIR] [--dir D] [--ca ca.pem [--ca-key ca.key]] [--party role:id ...] [--host H ...] [--force] [--json]
 *   parley home init [--home DIR] [--dir D] --add-party role:id ... [--json]
 */
import { parleyCommand } from '../cli/kit/invocation.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { reloadEmbeddedServer } from '../agents/transport/embedded.js';
import type { NatsOptions } from '../agents/transport/connect.js';
import { parseCertificate } from '../crypto/x509/index.js';
import { parleyError } from '../protocol/errors.js';
import { parleyHome } from '../cli/kit/home-dir.js';
import { action, emit, note, UsageError, type OutputOptions } from '../cli/kit/output.js';
import { passphraseFrom, withPassphraseOption, type PassphraseFlags } from '../cli/kit/passphrase.js';
import { installHomeIdentity, type IdentitySummary } from './identity.js';
import { addBrokerParties, brokerConnection, brokerPaths, defaultBrokerDir, initBroker, parsePartySpec, readBroker, type BrokerSummary, type PartySpec } from './init.js';

interface InitFlags extends OutputOptions, PassphraseFlags {
  id?: string;
  cert?: string;
  key?: string;
  caCert?: string;
  caDir?: string;
  /** false with --no-broker */
  broker?: boolean;
  home?: string;
  dir?: string;
  ca?: string;
  caKey?: string;
  party?: string[];
  addParty?: string[];
  host?: string[];
  force?: boolean;
}

function specs(values: string[] | undefined, flag: string): PartySpec[] {
  return (values ?? []).map((v) => {
    try {
      return parsePartySpec(v);
    } catch (e) {
      throw new UsageError(`${flag} ${(e as Error).message}`);
    }
  });
}

/** The Agent Home's id: a `--party agent-home:ID`, else the id in <home>/agent-home/home.pem. */
function homeId(flags: InitFlags, parties: PartySpec[]): string {
  const given = parties.filter((p) => p.role === 'agent-home');
  if (given.length > 1) throw new UsageError('give at most one --party agent-home:ID');
  if (given[0]) return given[0].id;
  const certFile = join(parleyHome(flags.home), 'agent-home', 'home.pem');
  if (!existsSync(certFile)) throw new UsageError(`no Agent Home id: give --party agent-home:ID, or install its certificate as ${certFile}`);
  const cert = parseCertificate(readFileSync(certFile, 'utf8'));
  if (cert.role !== 'agent-home') throw parleyError('ERR_CERT_ROLE', `${certFile} is a ${cert.role} certificate, not an agent-home one`);
  return cert.id;
}

function renderIdentity(i: IdentitySummary): string {
  const how = i.how === 'issued' ? 'issued by the local CA' : i.how === 'installed' ? 'installed from the given files' : 'already installed, kept';
  return `Agent Home identity ${i.id} (${how})\n  certificate ${i.cert}\n  key         ${i.key}\n  CA          ${i.ca}`;
}

function render(d: BrokerSummary & { reloaded?: boolean; identity?: IdentitySummary }): string {
  const rows = d.parties.map((p) => `  ${p.role.padEnd(10)} ${p.id.padEnd(20)} ${p.seedFile}${d.added.includes(p.id) ? '  (new)' : ''}`);
  return [
    ...(d.identity ? [renderIdentity(d.identity)] : []),
    `broker for Agent Home ${d.home} in ${d.dir}`,
    `  config     ${d.config}`,
    `  TLS CA     ${d.tlsCa}  (clients: --tls-ca)`,
    `parties (hand each its seed file: --nkey-seed-file):`,
    ...rows,
    ...(d.reloaded === undefined ? [] : [d.reloaded ? 'the running embedded nats-server reloaded its configuration' : 'no embedded nats-server runs this configuration (nothing to reload)']),
  ].join('\n');
}

async function runInit(flags: InitFlags): Promise<void> {
  const dataDir = parleyHome(flags.home);
  const dir = flags.dir ?? defaultBrokerDir(dataDir);
  if (flags.addParty?.length) {
    if (flags.party?.length || flags.ca || flags.force) throw new UsageError('--add-party cannot be combined with --party, --ca or --force');
    const s = addBrokerParties(dir, specs(flags.addParty, '--add-party'));
    const reloaded = s.added.length ? await reloadEmbeddedServer(dataDir, s.config) : false;
    emit(flags, { ...s, reloaded }, render);
    return;
  }
  const parties = specs(flags.party, '--party');
  const given = parties.find((p) => p.role === 'agent-home')?.id;
  const identity = await installHomeIdentity({
    parleyHomeDir: dataDir,
    id: flags.id ?? given,
    cert: flags.cert,
    key: flags.key,
    caCert: flags.caCert,
    caDir: flags.caDir,
    passphrase: passphraseFrom(flags),
    force: !!flags.force && !!flags.cert,
  });
  if (flags.broker === false) {
    emit(flags, { identity }, (d) => `${renderIdentity(d.identity)}\nno secured broker (--no-broker): the embedded nats-server stays open on 127.0.0.1`);
    note(flags, `next: ${parleyCommand()} home start`);
    return;
  }
  const ca = flags.ca ? { cert: flags.ca, key: flags.caKey ?? flags.ca.replace(/(\.pem)?$/, '.key') } : undefined;
  if (flags.caKey && !flags.ca) throw new UsageError('--ca-key needs --ca');
  const s = await initBroker({ dir, home: homeId(flags, parties), parties, ca, hosts: flags.host, force: flags.force });
  emit(flags, { ...s, identity }, render);
}

export function registerInitCommand(home: Command): void {
  withPassphraseOption(home
    .command('init')
    .description("install the Agent Home's identity, then generate a secured broker: TLS CA and server certificate, an nkey per party, nats-server config with per-role permissions")
    .option('--home <dir>', 'Parley data directory (default $PARLEY_HOME or $XDG_DATA_HOME/parley)')
    .option('--id <id>', 'the Agent Home id when its certificate is issued here (default home)')
    .option('--ca-dir <dir>', 'the CA that issues it (default <home>/ca, made by `parley ca init`)')
    .option('--cert <file>', 'install this Agent Home certificate instead (from `parley ca issue --role agent-home`)')
    .option('--key <file>', 'its private key')
    .option('--ca-cert <file>', 'the CA certificate it chains to (default <ca-dir>/ca.pem)')
    .option('--no-broker', 'only the identity: leave the embedded nats-server open on 127.0.0.1 (a trial on one machine)')
    .option('--dir <dir>', 'where to write it (default <home>/agent-home/broker)')
    .option('--ca <file>', 'sign the server certificate with this CA (PEM) instead of a new one')
    .option('--ca-key <file>', "that CA's private key (default: --ca with .key for .pem)")
    .option('--party <role:id...>', 'a party (agent-home|merchant|buyer), repeatable; the Agent Home defaults to <home>/agent-home/home.pem')
    .option('--add-party <role:id...>', 'add parties to an existing broker (reloads the embedded server if it runs it)')
    .option('--host <name...>', 'names the server certificate is for (default 127.0.0.1 localhost)')
    .option('--force', 'replace an existing broker (new keys for everyone)')
    .option('--json', 'print one JSON document'),
    'decrypts the CA key and keeps the Agent Home key encrypted').action(action(runInit));
}

/** The broker `parley home init` made under this data directory, if any. */
export function localBroker(dataDir: string): BrokerSummary | undefined {
  return readBroker(defaultBrokerDir(dataDir));
}

/** The generated config for the embedded server, when there is one. */
export function brokerConfigFile(dataDir: string): string | undefined {
  const p = brokerPaths(defaultBrokerDir(dataDir)).config;
  return existsSync(p) ? p : undefined;
}

/**
 * Connection options of the Agent Home (`id`) to the local broker: its seed and the CA,
 * where the flags or environment do not say otherwise (it keeps the default inbox).
 */
export function withBrokerCredentials(opts: NatsOptions, dataDir: string, id: string): NatsOptions {
  const broker = localBroker(dataDir);
  if (!broker) return opts;
  const own = brokerConnection(broker.dir, id);
  // an empty variable (PARLEY_NATS_TLS_CA=) counts as unset
  return { ...opts, nkeySeedFile: opts.nkeySeedFile || own.nkeySeedFile, tlsCaFile: opts.tlsCaFile || own.tlsCaFile };
}
