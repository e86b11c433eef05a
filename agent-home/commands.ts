/**
 * `parley home …`: run the Agent Home daemon and manage its embedded nats-server.
 */
import { parleyCommand } from '../cli/kit/invocation.js';
import { readText } from '../cli/kit/read-text.js';
import { dirname, join } from 'node:path';
import { lockDataDir } from '../cli/kit/lock.js';
import { resolveSessionRef } from '../cli/kit/session-ref.js';
import { textTable } from '../cli/kit/table.js';
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
import { buildEvidence } from './evidence.js';
import { writeFileSync } from 'node:fs';
import { AgentHome } from './service.js';
import { connectHome } from './connections.js';
import { loadOrCreateSecrets } from './secrets.js';
import { parseCertificate } from '../crypto/x509/index.js';
import { passphraseFrom, readIdentityKey, withPassphraseOption, type PassphraseFlags } from '../cli/kit/passphrase.js';
import { registerConsoleCommand } from './console-command.js';
import { brokerConfigFile, localBroker, registerInitCommand, withBrokerCredentials } from './init-command.js';

/** What a missing identity file says: the command that creates it. */
const INIT_HINT = 'create the Agent Home identity with `parley home init` (it issues one from the CA of `parley ca init`, or installs --cert/--key)';

interface HomeFlags extends OutputOptions, NatsFlags, PassphraseFlags {
  join?: boolean;
  home?: string;
  ca?: string;
  cert?: string;
  key?: string;
  workLease?: string;
  replicas?: string;
  monitor?: boolean;
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
  const srv = await ensureEmbeddedServer(parleyHome(flags.home), { configFile: brokerConfigFile(parleyHome(flags.home)), monitor: flags.monitor });
  if (flags.monitor && !srv.monitorUrl) note(flags, 'the embedded nats-server was already running without a monitor: stop it (`parley home nats --stop`) and start again to get one');
  if (srv.monitorUrl) note(flags, `nats-server monitor on ${srv.monitorUrl} (lists every connection: keep it to this machine)`);
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
  const self = selfFrom(readText(paths.cert, 'Agent Home certificate', INIT_HINT), readIdentityKey(paths.key, 'Agent Home key', passphrase, INIT_HINT));
  const ca = parseCertificate(readText(paths.ca, 'CA certificate', INIT_HINT));
  const trust = caTrust(ca);
  trust.verify(self.certPem, ['agent-home']);
  // one daemon per data directory, unless it joins the processes already serving it (they share the load)
  if (!flags.join) lockDataDir(dirname(paths.secrets), `Agent Home ${self.id}`);
  const secrets = loadOrCreateSecrets(paths.secrets, passphrase);
  const where = await resolveNats(flags);
  const given = natsOptionsFrom(flags, `parley-home-${self.id}`);
  const conns = await connectHome({ ...given, servers: where.servers }, parleyHome(flags.home), self.id, where.embedded);
  const nc = conns.service;
  let home: AgentHome;
  try {
    home = await AgentHome.open({ nc, jetstream: conns.jetstream, self, trust, ca, secrets, leaseMs, replicas, log: (l) => note(flags, l) });
    await home.start();
  } catch (e) {
    // a failed start must not leave the connection reconnecting (and the process running)
    await nc.close().catch(() => undefined);
    await conns.closeJetStream();
    throw e;
  }
  emit(flags, { id: self.id, nats: where.servers, embedded: where.embedded, reusedServer: where.reused, status: 'running' }, (d) =>
    `Agent Home ${d.id} running on ${d.nats}${d.embedded ? (d.reusedServer ? ' (embedded server, reused)' : ' (embedded server, started)') : ''}; Ctrl-C to stop`,
  );
  note(flags, `next: start the stores (${parleyCommand()} store start --config store.json), then the buyer's request`);
  await stopped;
  await shutdown(
    async () => {
      await home.stop();
      await conns.closeJetStream();
    },
    nc,
    undefined,
    `Agent Home ${self.id}`,
  );
}

async function runNats(flags: HomeFlags & { stop?: boolean }): Promise<void> {
  const dataDir = parleyHome(flags.home);
  if (flags.stop) {
    const stopped = await stopEmbeddedServer(dataDir);
    emit(flags, { stopped }, (d) => (d.stopped ? 'embedded nats-server stopped (its JetStream store is kept)' : 'no embedded nats-server was running'));
    return;
  }
  const s = await embeddedServerStatus(dataDir);
  emit(flags, s ? { running: true, url: s.url, pid: s.pid, storeDir: s.storeDir, configFile: s.configFile ?? null, monitorUrl: s.monitorUrl ?? null } : { running: false }, (d) =>
    d.running ? `embedded nats-server running: ${d.url} (pid ${d.pid}, store ${d.storeDir}${d.configFile ? `, config ${d.configFile}` : ''}${d.monitorUrl ? `, monitor ${d.monitorUrl}` : ''})` : 'embedded nats-server not running',
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
      ? textTable(
          ['SESSION', 'STATUS', 'BUYER', 'QTY', 'ITEM', 'SALES AGENTS', 'AGREEMENTS', 'EXCHANGES'],
          d.sessions.map((s) => [s.sn, s.status, s.buyer, String(s.quantity), s.item, String(s.salesAgents), String(s.agreements), String(s.exchanges)]),
          [3, 5, 6, 7],
        )
      : 'no sessions',
  );
}

/** `home show SN [--follow]`: SN may be a unique prefix or `last`; --follow prints the session again at each change until it settles. */
async function runShow(ref: string, flags: HomeFlags & { follow?: boolean }): Promise<void> {
  await withState(flags, async (st) => {
    const known = (await listSessions(st)).map((s) => s.sn);
    const sn = resolveSessionRef(ref, known, 'the Agent Home');
    let last = '';
    for (;;) {
      const d = await showSession(st, sn);
      if (!d) throw parleyError('ERR_SESSION_UNKNOWN', `no session ${sn}`);
      const settled = !flags.follow || d.session.status !== 'open';
      const now = JSON.stringify(d);
      // under --json only the final state: stdout stays one JSON document
      if (now !== last && (!flags.json || settled)) {
        if (last) process.stdout.write('\n');
        emit(flags, d, renderSession);
        last = now;
      }
      if (settled) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  });
}

async function runDisputes(flags: HomeFlags): Promise<void> {
  const list = await withState(flags, listDisputes);
  emit(flags, { disputes: list }, (d) =>
    d.disputes.length
      ? textTable(
          ['AT', 'STATUS', 'SESSION', 'MERCHANT', 'BUYER', 'CONTRACT'],
          d.disputes.map((x) => [x.at.replace(/\.\d+Z$/, 'Z'), x.status, x.sn, x.merchant, x.buyer, x.contractId]),
        )
      : 'no disputes',
  );
}

/** The audit log; with --verify every signature and link is checked against the Agent Home's certificate (exit 3 when broken). */
async function runAudit(flags: HomeFlags & { verify?: boolean }): Promise<void> {
  let publicKey: Uint8Array | undefined;
  if (flags.verify) {
    const paths = identityPaths(flags);
    const trust = caTrust(parseCertificate(readText(paths.ca, 'CA certificate', INIT_HINT)));
    publicKey = trust.verify(readText(paths.cert, 'Agent Home certificate', INIT_HINT), ['agent-home']).publicKey;
  }
  const report = auditReport(await withState(flags, (st) => st.auditEntries()), publicKey);
  emit(flags, report, renderAudit);
  if (report.verified && !report.verified.ok) process.exitCode = EXIT.VERIFICATION_FAILED;
}

/** The sealed public record of one session (protocol/evidence.ts); the seal needs the Agent Home's key. */
async function runEvidence(sn: string, flags: HomeFlags & { out: string }): Promise<void> {
  const paths = identityPaths(flags);
  const trust = caTrust(parseCertificate(readText(paths.ca, 'CA certificate')));
  const self = selfFrom(readText(paths.cert, 'Agent Home certificate'), readIdentityKey(paths.key, 'Agent Home key', passphraseFrom(flags)));
  trust.verify(self.certPem, ['agent-home']);
  const ev = await withState(flags, (st) => buildEvidence(st, sn, self));
  try {
    writeFileSync(flags.out, JSON.stringify(ev, null, 2) + '\n', { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw parleyError('ERR_FILE_EXISTS', `${flags.out} exists; refusing to overwrite it`);
    throw parleyError('ERR_CONFIG', `cannot write ${flags.out}`, e);
  }
  const count = (t: string) => ev.items.filter((i) => i.type === t).length;
  const d = { file: flags.out, sn, records: ev.items.length, auditRecords: count('audit-record'), exchanges: count('exchange'), auditHead: ev.auditChain.head };
  emit(flags, d, (x) => `evidence of session ${x.sn} written to ${x.file}: ${x.records} records (${x.exchanges} exchanges, ${x.auditRecords} audit records, chain up to #${x.auditHead}), sealed by ${self.id}`);
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
        .option('--join', 'join the Agent Home processes already running on this data directory (they share the load) instead of refusing to start')
        .option('--work-lease <duration>', 'how long work in progress stays with this process before another Agent Home process on the same JetStream takes it over, should this one die (default 15s)')
        .option('--monitor', "start the embedded nats-server with its HTTP monitor on 127.0.0.1 (it shows every connection's name, address and subscriptions)")
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
  arbiter(
    home
      .command('show')
      .description('arbiter: one session in full (visit log, bids and verdicts, agreements, exchanges)')
      .argument('<sn>', 'session number (a unique prefix, or `last`)')
      .option('--follow', 'print it again at each change until the session settles'),
  ).action(action(runShow));
  arbiter(home.command('disputes').description('arbiter: every resolved or aborted exchange')).action(action(runDisputes));
  arbiter(
    home
      .command('audit')
      .description("arbiter: the Agent Home's signed, hash-linked audit log; --verify checks every signature and link (exit 3 at the first broken one)")
      .option('--verify', 'check every record against the Agent Home certificate (--cert, verified with --ca)')
      .option('--ca <file>', 'CA certificate (default <home>/agent-home/ca.pem)')
      .option('--cert <file>', 'Agent Home certificate (default <home>/agent-home/home.pem)'),
  ).action(action(runAudit));
  withPassphraseOption(
    arbiter(
      home
        .command('evidence')
        .description("arbiter: one sealed JSON file with a session's public record (no secrets); `parley verify FILE --ca ca.pem` checks it offline")
        .argument('<sn>', 'session number')
        .requiredOption('--out <file>', 'where to write the evidence (refuses to overwrite)')
        .option('--ca <file>', 'CA certificate (default <home>/agent-home/ca.pem)')
        .option('--cert <file>', 'Agent Home certificate (default <home>/agent-home/home.pem)')
        .option('--key <file>', 'Agent Home private key, signs the seal (default <home>/agent-home/home.key)'),
    ),
    'decrypts the Agent Home key that seals the evidence',
  ).action(action(runEvidence));
  registerInitCommand(home);
  registerConsoleCommand(home);
  return home;
}
