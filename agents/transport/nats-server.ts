/**
 * Starts and stops a real nats-server (Debian's package, with JetStream) for the project:
 * tests start one per suite, `parley home start` and `parley demo` use one when no
 * server URL is given. Ports are picked by the server itself (`-p -1`) and read back from
 * its ports file; the server is ready when it logs "Server is ready" (after JetStream has
 * started). It opens no HTTP monitoring port unless asked (`monitor`), and then only on
 * 127.0.0.1: the monitor lists every connection, its name, address and subscriptions.
 * Nothing is ever downloaded: a missing binary is an error that says what to install.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { ParleyError } from '../../crypto/errors.js';

const CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

/** Path of the nats-server binary: $NATS_SERVER_BIN, $PATH, or Debian's location. */
export function natsServerBinary(): string {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) return fromEnv;
  const which = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const onPath = which.status === 0 ? which.stdout.trim() : '';
  if (onPath) return onPath;
  const found = CANDIDATES.find((p) => existsSync(p));
  if (found) return found;
  throw new ParleyError(
    'ERR_NATS_SERVER_MISSING',
    'nats-server is not installed; install it with `apt-get install -y nats-server` (or run scripts/install-system-deps.sh as root), or set NATS_SERVER_BIN',
  );
}

export interface NatsServerOptions {
  /** JetStream store directory; a temp dir (removed on stop) when omitted. */
  storeDir?: string;
  /** A nats-server configuration file (permissions, TLS, cluster…) that leaves JetStream to `storeDir`. */
  configFile?: string;
  /** Extra command-line arguments. */
  args?: string[];
  /** Client port; -1 (default) lets the server pick a free one. */
  port?: number;
  /** How long to wait for readiness. */
  readyTimeoutMs?: number;
  /** Keep running after this process exits (the embedded server of `parley home`). */
  detached?: boolean;
  /** Log file (nats-server `-l`); required with `detached`, whose stderr cannot stay a pipe to us. */
  logFile?: string;
  /** Open the HTTP monitoring port (a free one, on 127.0.0.1); off by default. */
  monitor?: boolean;
}

export interface NatsServer {
  url: string;
  /** the HTTP monitor, only when asked for */
  monitorUrl?: string;
  storeDir: string;
  pid: number;
  /** Stops the server (SIGTERM, then SIGKILL) and removes temp dirs it created. */
  stop(): Promise<void>;
  /** SIGKILL, for crash tests; the store dir is kept. */
  kill(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** The line nats-server logs once it has started everything, JetStream included. */
const READY_LINE = 'Server is ready';

/** What has been appended to `file` since byte `from` (empty while it does not exist). */
function logSince(file: string, from: number): string {
  try {
    return readFileSync(file).subarray(from).toString('utf8');
  } catch {
    return '';
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function exitPromise(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/**
 * With a configuration file, JetStream is configured in a file too: nats-server 2.9 refuses
 * `-sd` next to a `store_dir` in the file, and forgets `-js`/`-sd` when it reloads its
 * configuration (SIGHUP, after `parley home init --add-party`), which would turn JetStream
 * off. So the server runs `<storeDir>.conf`: the store directory, then an `include` of the
 * given file (which must not configure JetStream itself). `-a`, `-p`, `-m` still override
 * both, and survive reloads.
 */
function jetstreamConfig(configFile: string, storeDir: string): string {
  const path = `${resolve(storeDir)}.conf`;
  // nats-server resolves an include relative to the including file
  const include = relative(dirname(path), resolve(configFile));
  const text = [
    '# Written by Parley for this nats-server run: JetStream here, everything else in the included file.',
    `jetstream {\n  store_dir: ${JSON.stringify(resolve(storeDir))}\n}`,
    `include ${JSON.stringify(include)}`,
    '',
  ].join('\n');
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = natsServerBinary();
  const runDir = mkdtempSync(join(tmpdir(), 'parley-nats-'));
  const ownStore = !opts.storeDir;
  const storeDir = opts.storeDir ?? join(runDir, 'store');
  mkdirSync(storeDir, { recursive: true });
  const runConfig = opts.configFile ? jetstreamConfig(opts.configFile, storeDir) : undefined;
  const args = [
    ...(runConfig ? ['-c', runConfig] : ['-js', '-sd', storeDir]),
    '-a', '127.0.0.1',
    '-p', String(opts.port ?? -1),
    // the monitor binds to the -a address, 127.0.0.1
    ...(opts.monitor ? ['-m', '-1'] : []),
    '--ports_file_dir', runDir,
    ...(opts.logFile ? ['-l', opts.logFile] : []),
    ...(opts.args ?? []),
  ];
  if (opts.detached && !opts.logFile) throw new TypeError('a detached nats-server needs a logFile');
  const logStart = opts.logFile ? sizeOf(opts.logFile) : 0;
  const child = spawn(bin, args, {
    // a detached server must not write to a pipe that dies with us (Go exits on SIGPIPE)
    stdio: ['ignore', 'ignore', opts.detached ? 'ignore' : 'pipe'],
    detached: opts.detached ?? false,
  });
  let stderr = '';
  let ready = false;
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
    if (stderr.includes(READY_LINE)) ready = true;
  });
  // with -l the server logs to the file, not to stderr
  const isReady = () => ready || (opts.logFile !== undefined && logSince(opts.logFile, logStart).includes(READY_LINE));
  const exited = exitPromise(child);
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 10_000);
  let ports: { nats?: string[]; monitoring?: string[] } | undefined;
  const cleanupRunDir = () => rmSync(runDir, { recursive: true, force: true });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    cleanupRunDir();
    if (runConfig) rmSync(runConfig, { force: true });
    if (ownStore) rmSync(storeDir, { recursive: true, force: true });
  };
  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${stderr.trim() || (opts.logFile ? `see ${opts.logFile}` : '')}`);
      const file = readdirSync(runDir).find((f) => f.endsWith('.ports'));
      if (file && !ports) {
        try {
          ports = JSON.parse(readFileSync(join(runDir, file), 'utf8')) as typeof ports;
        } catch {
          ports = undefined; // written but not complete yet
        }
      }
      if (ports?.nats?.[0] && (!opts.monitor || ports.monitoring?.[0]) && isReady()) break;
      await sleep(25);
    }
    if (!ports?.nats?.[0] || !isReady()) throw new Error(`nats-server not ready in time: ${stderr.trim() || (opts.logFile ? `see ${opts.logFile}` : '')}`);
  } catch (e) {
    await stop();
    throw new ParleyError('ERR_NATS_SERVER_START', `could not start nats-server: ${(e as Error).message}`, { cause: e });
  }
  if (opts.detached) {
    child.unref();
    cleanupRunDir();
  }
  const url = ports.nats[0]!.replace('0.0.0.0', '127.0.0.1');
  const monitorUrl = opts.monitor ? ports.monitoring?.[0]?.replace('0.0.0.0', '127.0.0.1') : undefined;
  return {
    url,
    ...(monitorUrl ? { monitorUrl } : {}),
    storeDir,
    pid: child.pid!,
    stop,
    kill: () => {
      child.kill('SIGKILL');
    },
    [Symbol.asyncDispose]: stop,
  };
}
