/**
 * `parley home …`: run the Agent Home daemon and manage its embedded nats-server.
 */
import { readText } from '../cli/kit/read-text.js';
import { join } from 'node:path';
import type { Command } from 'commander';
import { connectNats } from '../agents/transport/connect.js';
import { embeddedServerStatus, ensureEmbeddedServer, stopEmbeddedServer } from '../agents/transport/embedded.js';
import { caTrust, selfFrom } from '../agents/runtime/trust.js';
import { parleyError } from '../protocol/errors.js';
import { parleyHome } from '../cli/kit/home-dir.js';
import { shutdown, stopSignal } from '../cli/kit/daemon.js';
import { parseDuration } from '../cli/kit/duration.js';
import { action, commandGroup, emit, EXIT, note, UsageError, type OutputOptions } from '../cli/kit/output.js';
import { clientNatsOptions, natsOptionsFrom, withNatsOptions, type NatsFlags } from '../cli/kit/nats-options.js';
import { HomeState } from './state.js';
import { listDisputes, listSessions, renderSession, showSession } from './arbiter.js';
import { auditReport, renderAudit } from './audit.js';
import { AgentHome } from './service.js';
import { loadOrCreateSecrets } from './secrets.js';
import { parseCertificate } from '../crypto/x509/index.js';
import { passphraseFrom, readIdentityKey, withPassphraseOption, type PassphraseFlags } from '../cli/kit/passphrase.js';
import { registerConsoleCommand } from './console-command.js';
import { brokerConfigFile, localBroker, registerInitCommand, withBrokerCredentials } from './init-command.js';

interface HomeFlags extends OutputOptions, NatsFlags, PassphraseFlags {
  home?: string;
  ca?: string;
  cert?: string;
  key?: string;
  workLease?: string;
  replicas?: string;
}

/** Identity files: explicit flags, else <home>/agent-home/{ca.pem,home.pem,home.key}; secrets always there. */
function identityPaths(flags: HomeFlags): { ca: string; cert: string; key: string; secrets: string } {
  const dir = join(parleyHome(flags.home), 'agent-home');
  return { ca: flags.ca ?? join(dir, 'ca.pem'), cert: flags.cert ?? join(dir, 'home.pem'), key: flags.key ?? join(dir, 'home.key'), secrets: join(dir, 'secrets.json') };
}

/** A URL from the flags or environment, else the embedded server (started if needed). */
async function resolveNats(flags: HomeFlags): Promise<{ servers: string; embedded: boolean; reused: boolean }> {
  const given = natsOptionsFrom(flags, 'parley-home').servers;
  if (given) return { servers: Array.isArray(given) ? given.join(',') : given, embedded: false, reused: false };
  // with a broker from `parley home init`, the embedded server runs its configuration
  const srv = await ensureEmbeddedServer(parleyHome(flags.home), { configFile: brokerConfigFile(parleyHome(flags.home)) });
  return { servers: srv.url, embedded: true, reused: srv.reused };
}

async function runStart(flags: HomeFlags): Promise<void> {
  // listen for the stop signal first, so a signal during start-up is a clean stop too
  const stopped = stopSignal();
  const leaseMs = flags.workLease === undefined ? undefined : parseDuration(flags.workLease, '--work-lease');
  const replicas = flags.replicas === undefined ? undefined : Number(flags.replicas);
  if (replicas !== undefined && !(Number.isInteger(replicas) && replicas >= 1 && replicas <= 5)) throw new UsageError('--replicas must be 1 to 5 (3 on a three-node cluster)');
  const paths = identityPaths(flags);
  const passphrase = passphraseFrom(flags);
  const self = selfFrom(readText(paths.cert, 'Agent Home certificate'), readIdentityKey(paths.key, 'Agent Home key', passphrase));
  const ca = parseCertificate(readText(paths.ca, 'CA certificate'));
  const trust = caTrust(ca);
  trust.verify(self.certPem, ['agent-home']);
  const secrets = loadOrCreateSecrets(paths.secrets, passphrase);
  const where = await resolveNats(flags);
  // no party id: the Agent Home keeps the default inbox on a secured broker too
  const given = natsOptionsFrom(flags, `parley-home-${self.id}`);
  const nc = await connectNats({ ...(where.embedded ? withBrokerCredentials(given, parleyHome(flags.home), self.id) : given), servers: where.servers });
  let home: AgentHome;
  try {
    home = await AgentHome.open({ nc, self, trust, ca, secrets, leaseMs, replicas, log: (l) => note(flags, l) });
    await home.start();
  } catch (e) {
    // a failed start must not leave the connection reconnecting (and the process running)
    await nc.close().catch(() => undefined);
    throw e;
  }
  emit(flags, { id: self.id, nats: where.servers, embedded: where.embedded, reusedServer: where.reused, status: 'running' }, (d) =>
    `Agent Home ${d.id} running on ${d.nats}${d.embedded ? (d.reusedServer ? ' (embedded server, reused)' : ' (embedded server, started)') : ''}; Ctrl-C to stop`,
  );
  await stopped;
  await shutdown(() => home.stop(), nc);
}

async function runNats(flags: HomeFlags & { stop?: boolean }): Promise<void> {
  const dataDir = parleyHome(flags.home);
  if (flags.stop) {
    const stopped = await stopEmbeddedServer(dataDir);
    emit(flags, { stopped }, (d) => (d.stopped ? 'embedded nats-server stopped (its JetStream store is kept)' : 'no embedded nats-server was running'));
    return;
  }
  const s = await embeddedServerStatus(dataDir);
  emit(flags, s ? { running: true, url: s.url, pid: s.pid, storeDir: s.storeDir, configFile: s.configFile ?? null } : { running: false }, (d) =>
    d.running ? `embedded nats-server running: ${d.url} (pid ${d.pid}, store ${d.storeDir}${d.configFile ? `, config ${d.configFile}` : ''})` : 'embedded nats-server not running',
  );
}

/** Read-only access to the Agent Home's JetStream state for the arbiter's commands. */
async function withState<T>(flags: HomeFlags, fn: (state: HomeState) => Promise<T>): Promise<T> {
  const dataDir = parleyHome(flags.home);
  const opts = await clientNatsOptions(flags, 'parley-arbiter', dataDir);
  // on the local embedded server secured by `parley home init`, the arbiter reads as the Agent Home
  const broker = natsOptionsFrom(flags, 'parley-arbiter').servers ? undefined : localBroker(dataDir);
  const nc = await connectNats({ ...(broker ? withBrokerCredentials(opts, dataDir, broker.home) : opts), failFast: true });
  try {
    return await fn(await HomeState.open(nc));
  } finally {
    await nc.close();
  }
}

async function runSessions(flags: HomeFlags): Promise<void> {
  const list = await withState(flags, listSessions);
  emit(flags, { sessions: list }, (d) =>
    d.sessions.length
      ? d.sessions.map((s) => `${s.sn}  ${s.status.padEnd(8)} ${s.buyer.padEnd(12)} ${s.quantity} × ${s.item}  ${s.salesAgents} sales agents, ${s.agreements} agreements, ${s.exchanges} exchanges`).join('\n')
      : 'no sessions',
  );
}

async function runShow(sn: string, flags: HomeFlags): Promise<void> {
  const d = await withState(flags, (st) => showSession(st, sn));
  if (!d) throw parleyError('ERR_SESSION_UNKNOWN', `no session ${sn}`);
  emit(flags, d, renderSession);
}

async function runDisputes(flags: HomeFlags): Promise<void> {
  const list = await withState(flags, listDisputes);
  emit(flags, { disputes: list }, (d) =>
    d.disputes.length ? d.disputes.map((x) => `${x.at}  ${x.status.padEnd(8)} session ${x.sn}  ${x.merchant} ↔ ${x.buyer}  ${x.contractId}`).join('\n') : 'no disputes',
  );
}

/** The audit log; with --verify every signature and link is checked against the Agent Home's certificate (exit 3 when broken). */
async function runAudit(flags: HomeFlags & { verify?: boolean }): Promise<void> {
  let publicKey: Uint8Array | undefined;
  if (flags.verify) {
    const paths = identityPaths(flags);
    const trust = caTrust(parseCertificate(readText(paths.ca, 'CA certificate')));
    publicKey = trust.verify(readText(paths.cert, 'Agent Home certificate'), ['agent-home']).publicKey;
  }
  const report = auditReport(await withState(flags, (st) => st.auditEntries()), publicKey);
  emit(flags, report, renderAudit);
  if (report.verified && !report.verified.ok) process.exitCode = EXIT.VERIFICATION_FAILED;
}

export function homeCommand(): Command {
  const home = commandGroup('home', 'the Agent Home: hosts negotiations, escrows key halves, arbitrates');
  withPassphraseOption(
    withNatsOptions(
      home
        .command('start')
        .description('run the Agent Home daemon (uses the embedded nats-server unless --nats is given)')
        .option('--home <dir>', 'Parley data directory (default $PARLEY_HOME or $XDG_DATA_HOME/parley)')
        .option('--ca <file>', 'CA certificate (default <home>/agent-home/ca.pem)')
        .option('--cert <file>', 'Agent Home certificate (default <home>/agent-home/home.pem)')
        .option('--key <file>', 'Agent Home private key (default <home>/agent-home/home.key)')
        .option('--replicas <n>', 'JetStream replicas of the buckets and streams it creates (3 on a three-node cluster; default 1)')
        .option('--work-lease <duration>', 'how long work in progress stays with this process before another Agent Home process on the same JetStream takes it over, should this one die (default 15s)')
        .option('--json', 'print one JSON document when running'),
    ),
    'decrypts the key and keeps <home>/agent-home/secrets.json encrypted',
  ).action(action(runStart));
  home
    .command('nats')
    .description('status of the embedded nats-server; --stop stops it (its JetStream store is kept)')
    .option('--home <dir>', 'Parley data directory')
    .option('--stop', 'stop the embedded server')
    .option('--json', 'print one JSON document')
    .action(action(runNats));
  const arbiter = (c: Command) => withNatsOptions(c.option('--home <dir>', 'Parley data directory').option('--json', 'print one JSON document'));
  arbiter(home.command('sessions').description('arbiter: every session with its status')).action(action(runSessions));
  arbiter(home.command('show').description('arbiter: one session in full (visit log, bids and verdicts, agreements, exchanges)').argument('<sn>', 'session number')).action(action(runShow));
  arbiter(home.command('disputes').description('arbiter: every resolved or aborted exchange')).action(action(runDisputes));
  arbiter(
    home
      .command('audit')
      .description("arbiter: the Agent Home's signed, hash-linked audit log; --verify checks every signature and link (exit 3 at the first broken one)")
      .option('--verify', 'check every record against the Agent Home certificate (--cert, verified with --ca)')
      .option('--ca <file>', 'CA certificate (default <home>/agent-home/ca.pem)')
      .option('--cert <file>', 'Agent Home certificate (default <home>/agent-home/home.pem)'),
  ).action(action(runAudit));
  registerInitCommand(home);
  registerConsoleCommand(home);
  return home;
}
