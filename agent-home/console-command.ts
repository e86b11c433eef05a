/**
 * `parley home console [--host H] [--port P] [--home DIR] [--nats URL …]`: the arbiter's web
 * console (agent-home/console.ts) on the Agent Home's JetStream data, whether or not the
 * daemon runs. On the local broker of `parley home init` it connects as the read-only
 * `console` party; elsewhere with the credentials given (`--nkey-seed-file` of a console party).
 * Prints one line, `console: URL`, on stderr (the URL carries the token: it is printed
 * nowhere else and never logged), and runs until Ctrl-C.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { NatsConnection } from 'nats';
import { connectNats } from '../agents/transport/connect.js';
import { caTrust } from '../agents/runtime/trust.js';
import { startConsole, type RunningConsole } from '../agents/console/server.js';
import { parseCertificate } from '../crypto/x509/index.js';
import { parleyHome } from '../cli/kit/home-dir.js';
import { readText } from '../cli/kit/read-text.js';
import { stopSignal } from '../cli/kit/daemon.js';
import { action, UsageError, type OutputOptions } from '../cli/kit/output.js';
import { consoleLine, parsePort, withConsoleOptions, type ConsoleFlags } from '../cli/kit/console-flags.js';
import { clientNatsOptions, natsOptionsFrom, withNatsOptions, type NatsFlags } from '../cli/kit/nats-options.js';
import { HomeState } from './state.js';
import { arbiterConsole } from './console.js';
import { CONSOLE_PARTY } from './console-access.js';
import { brokerConnection } from './init.js';
import { localBroker } from './init-command.js';

interface HomeConsoleFlags extends OutputOptions, NatsFlags, ConsoleFlags {
  home?: string;
  ca?: string;
  cert?: string;
}

/** Starts the arbiter console on an open connection (also used by `parley demo --console`). */
export async function startArbiterConsole(nc: NatsConnection, opts: { homeId: string; publicKey?: Uint8Array; host?: string; port?: number }): Promise<RunningConsole & { state: HomeState }> {
  const state = await HomeState.open(nc, { readOnly: true });
  const c = await startConsole(arbiterConsole(state, { homeId: opts.homeId, publicKey: opts.publicKey }), { host: opts.host, port: opts.port });
  return {
    ...c,
    state,
    close: async () => {
      await c.close();
      state.close();
    },
  };
}

async function runConsole(flags: HomeConsoleFlags): Promise<void> {
  const stopped = stopSignal();
  const dataDir = parleyHome(flags.home);
  const port = parsePort(flags.port);
  const broker = natsOptionsFrom(flags, 'parley-console').servers ? undefined : localBroker(dataDir);
  const base = await clientNatsOptions(flags, 'parley-console', dataDir, undefined, CONSOLE_PARTY);
  const own = broker?.parties.some((p) => p.role === 'console' && p.id === CONSOLE_PARTY) ? brokerConnection(broker.dir, CONSOLE_PARTY) : undefined;
  if (broker && !own) throw new UsageError(`the broker in ${broker.dir} has no console party: run \`parley home init --add-party console:${CONSOLE_PARTY}\``);
  const nc = await connectNats({ ...base, ...(own ?? {}), failFast: true });
  // the audit log is verified against the Agent Home's certificate when it is installed
  const dir = join(dataDir, 'agent-home');
  const certFile = flags.cert ?? join(dir, 'home.pem');
  const caFile = flags.ca ?? join(dir, 'ca.pem');
  let publicKey: Uint8Array | undefined;
  let homeId = broker?.home ?? 'agent-home';
  if (existsSync(certFile) && existsSync(caFile)) {
    const v = caTrust(parseCertificate(readText(caFile, 'CA certificate'))).verify(readText(certFile, 'Agent Home certificate'), ['agent-home']);
    publicKey = v.publicKey;
    homeId = v.id;
  }
  const c = await startArbiterConsole(nc, { homeId, publicKey, host: flags.host, port });
  process.stderr.write(consoleLine(c.url));
  await stopped;
  await c.close();
  await nc.close();
  process.exit(process.exitCode ?? 0);
}

export function registerConsoleCommand(home: Command): void {
  const cmd = withNatsOptions(
    home
      .command('console')
      .description("arbiter: a read-only web console of the Agent Home's sessions, bids, exchanges, audit log and directory (prints its URL)")
      .option('--home <dir>', 'Parley data directory'),
  );
  withConsoleOptions(cmd)
    .option('--ca <file>', 'CA certificate (default <home>/agent-home/ca.pem)')
    .option('--cert <file>', 'Agent Home certificate, to verify the audit log (default <home>/agent-home/home.pem)')
    .action(action(runConsole));
}
