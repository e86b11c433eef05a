/**
 * `parley store console --config store.json [--home DIR] [--host H] [--port P]`: the
 * merchant's web console (store/console.ts) on the store's data directory, whether or not
 * the daemon runs. It needs no NATS connection and no key: it reads the files the daemon
 * writes and never writes them. Prints one line, `console: URL`, on stderr (the URL carries
 * the token: it is printed nowhere else and never logged), and runs until Ctrl-C.
 */
import type { Command } from 'commander';
import { startConsole, type RunningConsole } from '../agents/console/server.js';
import { stopSignal } from '../cli/kit/daemon.js';
import { consoleLine, parsePort, withConsoleOptions, type ConsoleFlags } from '../cli/kit/console-flags.js';
import { action, UsageError } from '../cli/kit/output.js';
import { loadStoreConfig, type StoreConfig } from './config.js';
import { StoreRecords } from './console-data.js';
import { merchantConsole } from './console.js';

interface StoreConsoleFlags extends ConsoleFlags {
  config?: string;
  home?: string;
}

/** Starts the merchant console of the store whose files are in `dataDir`. */
export function startMerchantConsole(config: StoreConfig, dataDir: string, opts: { host?: string; port?: number; token?: string } = {}): Promise<RunningConsole> {
  return startConsole(merchantConsole(config, new StoreRecords(dataDir)), opts);
}

async function runConsole(flags: StoreConsoleFlags, dataDirOf: (id: string, home?: string) => string): Promise<void> {
  const stopped = stopSignal();
  if (!flags.config) throw new UsageError('--config store.json is required (the console shows that store)');
  const config = loadStoreConfig(flags.config);
  const c = await startMerchantConsole(config, dataDirOf(config.id, flags.home), { host: flags.host, port: parsePort(flags.port) });
  process.stderr.write(consoleLine(c.url));
  await stopped;
  await c.close();
  process.exit(process.exitCode ?? 0);
}

export function registerStoreConsoleCommand(store: Command, dataDirOf: (id: string, home?: string) => string): void {
  withConsoleOptions(
    store
      .command('console')
      .description("merchant: a read-only web console of this store's listings, sessions, own bids, win rate and contracts (prints its URL)")
      .option('--config <file>', 'store config file')
      .option('--home <dir>', 'Parley data directory'),
  ).action(action((flags: StoreConsoleFlags) => runConsole(flags, dataDirOf)));
}
