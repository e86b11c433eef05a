/**
 * Connecting to NATS the same way in every role: server URL(s), optional nkey seed file and
 * TLS CA file, from explicit options or the environment (PARLEY_NATS_URL,
 * PARLEY_NATS_NKEY_SEED_FILE, PARLEY_NATS_TLS_CA), and the inbox prefix a secured broker
 * expects of the party. Reconnects forever by default:
 * a daemon must ride out a broker restart.
 */
import { readFileSync } from 'node:fs';
import { connect, nkeyAuthenticator, type NatsConnection, type ConnectionOptions } from 'nats';
import { parleyError } from '../../protocol/errors.js';

export interface NatsOptions {
  /** One URL, or several separated by commas. */
  servers?: string | string[];
  /** File holding an nkey seed (`SU…`), for servers that require nkey authentication. */
  nkeySeedFile?: string;
  /** CA certificate (PEM) the server's TLS certificate must chain to. */
  tlsCaFile?: string;
  /** Client name shown in the server's monitoring. */
  name?: string;
  /** Stop trying after the first failure (CLI commands) instead of reconnecting forever (daemons). */
  failFast?: boolean;
  /**
   * Prefix of this connection's reply subjects (nats.js `inboxPrefix`): a broker secured by
   * `parley home init` lets each party subscribe only to its own `_INBOX_<id>.>`.
   */
  inboxPrefix?: string;
}

export function natsOptionsFromEnv(explicit: NatsOptions = {}): NatsOptions {
  return {
    ...explicit,
    servers: explicit.servers ?? process.env.PARLEY_NATS_URL,
    nkeySeedFile: explicit.nkeySeedFile ?? process.env.PARLEY_NATS_NKEY_SEED_FILE,
    tlsCaFile: explicit.tlsCaFile ?? process.env.PARLEY_NATS_TLS_CA,
  };
}

export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  if (!opts.servers || (Array.isArray(opts.servers) && opts.servers.length === 0)) {
    throw parleyError('ERR_CONFIG', 'no NATS server given (use --nats URL or PARLEY_NATS_URL)');
  }
  const servers = Array.isArray(opts.servers) ? opts.servers : opts.servers.split(',').map((s) => s.trim()).filter(Boolean);
  const co: ConnectionOptions = {
    servers,
    name: opts.name ?? 'parley',
    maxReconnectAttempts: opts.failFast ? 0 : -1,
    reconnectTimeWait: 250,
    timeout: 5000,
    // nats.js otherwise captures two stack traces (an Error and a timeout NatsError) for
    // every request, only to decorate the error if it fails: a tenth of the Agent Home's
    // CPU in steady state. Errors keep their codes and messages.
    noAsyncTraces: true,
  };
  if (opts.nkeySeedFile) {
    let seed: Uint8Array;
    try {
      seed = new TextEncoder().encode(readFileSync(opts.nkeySeedFile, 'utf8').trim());
    } catch (e) {
      throw parleyError('ERR_CONFIG', `cannot read nkey seed file ${opts.nkeySeedFile}`, e);
    }
    co.authenticator = nkeyAuthenticator(seed);
  }
  if (opts.tlsCaFile) co.tls = { caFile: opts.tlsCaFile };
  if (opts.inboxPrefix) co.inboxPrefix = opts.inboxPrefix;
  try {
    return await connect(co);
  } catch (e) {
    throw parleyError('ERR_NATS_CONNECT', `cannot connect to NATS at ${servers.join(', ')}: ${(e as Error).message}`, e);
  }
}
