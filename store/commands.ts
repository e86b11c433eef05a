/**
 * `parley store …`: run a merchant's store daemon and list the contracts it signed.
 *
 *   parley store start     --config store.json [--home DIR] [--nats URL] [--passphrase-file F] [--json]
 *   parley store contracts [--config store.json | --id ID] [--home DIR] [--json]
 *   parley store console   --config store.json [--home DIR] [--host H] [--port P]
 *
 * The store keeps its files in `<home>/store/<id>` (store/files.ts). NATS: --nats, else the
 * config's `nats`, else PARLEY_NATS_URL, else the embedded server of `<home>` if one runs.
 */
import { parleyCommand } from '../cli/kit/invocation.js';
import { readText } from '../cli/kit/read-text.js';
import { join } from 'node:path';
import type { Command } from 'commander';
import { connectNats } from '../agents/transport/connect.js';
import { embeddedServerStatus } from '../agents/transport/embedded.js';
import { caTrust, selfFrom } from '../agents/runtime/trust.js';
import { parseCertificate } from '../crypto/x509/index.js';
import { isPartyId } from '../crypto/x509/index.js';
import { parleyError } from '../protocol/errors.js';
import { parleyHome } from '../cli/kit/home-dir.js';
import { shutdown, stopSignal } from '../cli/kit/daemon.js';
import { lockDataDir } from '../cli/kit/lock.js';
import { UsageError, action, commandGroup, emit, note, progress, type OutputOptions } from '../cli/kit/output.js';
import { natsOptionsFrom, withNatsOptions, type NatsFlags } from '../cli/kit/nats-options.js';
import { passphraseFrom, readIdentityKey, withPassphraseOption, type PassphraseFlags } from '../cli/kit/passphrase.js';
import { loadStoreConfig, type StoreConfig } from './config.js';
import { StoreDaemon } from './daemon.js';
import { watchHome, type HomeWatch } from './home-watch.js';
import { listContracts, type ContractSummary } from './listing.js';
import { registerStoreConsoleCommand } from './console-command.js';

interface StoreFlags extends OutputOptions, NatsFlags, PassphraseFlags {
  check?: boolean;
  config?: string;
  home?: string;
  id?: string;
}

/** The data directory of store `id`. */
export function storeDataDir(id: string, home?: string): string {
  return join(parleyHome(home), 'store', id);
}

/** --nats, else the config's server, else PARLEY_NATS_URL, else the running embedded server. */
async function resolveNats(flags: StoreFlags, config: StoreConfig): Promise<{ servers: string; source: string }> {
  if (flags.nats) return { servers: flags.nats, source: '--nats' };
  if (config.nats) return { servers: config.nats, source: 'config' };
  if (process.env.PARLEY_NATS_URL) return { servers: process.env.PARLEY_NATS_URL, source: 'PARLEY_NATS_URL' };
  const embedded = await embeddedServerStatus(parleyHome(flags.home));
  if (embedded) return { servers: embedded.url, source: 'embedded' };
  throw parleyError('ERR_CONFIG', 'no NATS server: give --nats URL (or "nats" in the store config, or PARLEY_NATS_URL), or start the Agent Home with the same --home so its embedded server runs');
}

async function runStart(flags: StoreFlags): Promise<void> {
  // listen for the stop signal first, so a signal during start-up is a clean stop too
  const stopped = stopSignal();
  if (!flags.config) throw new UsageError('--config store.json is required');
  const config = loadStoreConfig(flags.config);
  const hint = `a path in "identity" of ${flags.config} (relative to its folder); \`parley ca issue --role merchant --id ${config.id}\` creates the certificate and key`;
  const ca = parseCertificate(readText(config.identity.ca, 'CA certificate', hint));
  const self = selfFrom(readText(config.identity.cert, 'store certificate', hint), readIdentityKey(config.identity.key, 'store key', passphraseFrom(flags), hint));
  const trust = caTrust(ca);
  trust.verify(self.certPem, ['merchant']);
  if (self.id !== config.id) throw parleyError('ERR_CERT_ID', `${config.identity.cert} is the certificate of ${self.id}, but ${flags.config} is for store ${config.id}`);
  const where = await resolveNats(flags, config);
  if (flags.check) {
    // validate, test the connection, and exit: nothing is registered or started
    const probe = await connectNats({ ...natsOptionsFrom(flags, `parley-store-${config.id}-check`, config.id), servers: where.servers, failFast: true });
    await probe.close();
    const items = config.catalogue.length;
    emit(flags, { id: config.id, home: config.home, categories: config.categories, items, nats: where.servers, natsSource: where.source, status: 'ok' }, (d) =>
      `store ${d.id}: config, catalogue (${d.items} item${d.items === 1 ? '' : 's'}) and identity valid; ${d.nats} (${d.natsSource}) reachable`,
    );
    return;
  }
  const dataDir = storeDataDir(config.id, flags.home);
  lockDataDir(dataDir, `store ${config.id}`);
  const nc = await connectNats({ ...natsOptionsFrom(flags, `parley-store-${config.id}`, config.id), servers: where.servers });
  let store: StoreDaemon | undefined;
  let watch: HomeWatch | undefined;
  try {
    store = await StoreDaemon.open({ nc, config, self, trust, ca, dataDir, log: (l) => note(flags, l) });
    await store.start();
    emit(flags, { id: self.id, home: config.home, categories: config.categories, nats: where.servers, natsSource: where.source, dataDir: store.dataDir, status: 'running' }, (d) =>
      `store ${d.id} running on ${d.nats} for Agent Home ${d.home} (${d.categories.join(', ')}); data in ${d.dataDir}; Ctrl-C to stop`,
    );
    note(flags, `next: once every store runs, the buyer sends its request (${parleyCommand()} buyer request …)`);
    // on stderr even under --json: a daemon's health is for the people watching it, stdout stays one document
    watch = watchHome(nc, config.home, progress);
    await stopped;
  } finally {
    watch?.stop();
    await shutdown(async () => store?.stop(), nc, undefined, store ? `store ${config.id}` : undefined);
  }
}

function storeId(flags: StoreFlags): string {
  if (flags.config) {
    const config = loadStoreConfig(flags.config);
    if (flags.id && flags.id !== config.id) throw new UsageError(`--id ${flags.id} differs from the config's id ${config.id}`);
    return config.id;
  }
  if (!flags.id) throw new UsageError('give --config store.json or --id ID');
  if (!isPartyId(flags.id)) throw new UsageError('--id must be a lowercase party id matching ^[a-z0-9][a-z0-9_-]{0,62}$');
  return flags.id;
}

function table(rows: ContractSummary[]): string {
  const head = ['CONTRACT', 'STATE', 'SESSION', 'BUYER', 'ITEM', 'QTY', 'PRICE', 'CUR', 'COUNTERSIGNED'];
  const body = rows.map((r) => [r.contractId.slice(0, 12), r.state, r.sn.slice(0, 12), r.buyer, r.item, String(r.quantity), r.price.toFixed(2), r.currency, r.countersignedAt.replace(/\.\d+Z$/, 'Z')]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 5 || i === 6 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...body.map(line)].join('\n');
}

async function runContracts(flags: StoreFlags): Promise<void> {
  const id = storeId(flags);
  const dataDir = storeDataDir(id, flags.home);
  const contracts = listContracts(dataDir);
  emit(flags, { store: id, dataDir, contracts }, (d) => {
    if (!d.contracts.length) return `store ${d.store} has signed no contracts (${d.dataDir})`;
    const files = d.contracts.filter((c) => c.contractFile).map((c) => `  ${c.contractId.slice(0, 12)}  ${c.contractFile}`);
    return [table(d.contracts), ...(files.length ? ['', 'complete contracts (check with `parley verify FILE --ca ca.pem`):', ...files] : [])].join('\n');
  });
}

export function storeCommand(): Command {
  const store = commandGroup('store', "a merchant's store: hosts Invite Agents, sends Sales Agents, signs contracts");
  withPassphraseOption(
    withNatsOptions(
      store
        .command('start')
        .description('run the store daemon (data in <home>/store/<id>)')
        .option('--config <file>', 'store config file (format: store/config.ts)')
        .option('--home <dir>', 'Parley data directory (default $PARLEY_HOME or $XDG_DATA_HOME/parley)')
        .option('--check', 'validate the config, catalogue and identity, test the connection to NATS, and exit')
        .option('--json', 'print one JSON document when running'),
    ),
    "decrypts the store's identity key",
  ).action(action(runStart));
  store
    .command('contracts')
    .description('list the contracts this store signed')
    .option('--config <file>', 'store config file (gives the store id)')
    .option('--id <id>', 'store id (instead of --config)')
    .option('--home <dir>', 'Parley data directory')
    .option('--json', 'print one JSON document')
    .action(action(runContracts));
  registerStoreConsoleCommand(store, storeDataDir);
  return store;
}
