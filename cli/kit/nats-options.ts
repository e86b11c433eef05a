/**
 * The connection options every networked command takes: --nats URL[,URL…], --nkey-seed-file,
 * --tls-ca (each falls back to PARLEY_NATS_URL, PARLEY_NATS_NKEY_SEED_FILE, PARLEY_NATS_TLS_CA).
 */
import type { Command } from 'commander';
import { natsOptionsFromEnv, type NatsOptions } from '../../agents/transport/connect.js';
import { embeddedServerStatus } from '../../agents/transport/embedded.js';
import { parleyError } from '../../protocol/errors.js';
import { subjectPatterns } from '../../protocol/subjects.js';

export interface NatsFlags {
  nats?: string;
  nkeySeedFile?: string;
  tlsCa?: string;
}

export function withNatsOptions(cmd: Command): Command {
  return cmd
    .option('--nats <url>', 'NATS server URL(s), comma-separated (default: $PARLEY_NATS_URL)')
    .option('--nkey-seed-file <file>', 'nkey seed for NATS authentication (default: $PARLEY_NATS_NKEY_SEED_FILE)')
    .option('--tls-ca <file>', "CA certificate the NATS server's TLS certificate must chain to (default: $PARLEY_NATS_TLS_CA)");
}

/**
 * `party` is the connecting party's id (a store's or a buyer's): its replies use its own
 * inbox prefix, `_INBOX_<id>`, on any server. A broker secured by `parley home init` lets
 * it subscribe only there, and every responder answers only there
 * (agents/transport/reply-guard.ts). The Agent Home connects through agent-home/connections.ts.
 */
export function natsOptionsFrom(flags: NatsFlags, name: string, party?: string): NatsOptions {
  const opts = natsOptionsFromEnv({ servers: flags.nats, nkeySeedFile: flags.nkeySeedFile, tlsCaFile: flags.tlsCa, name });
  return party ? { ...opts, inboxPrefix: subjectPatterns.inboxPrefix(party) } : opts;
}

/**
 * Where a client connects: --nats, else the role's configured URL, else PARLEY_NATS_URL,
 * else the embedded server of this data directory if it is running (`parley home start`).
 */
export async function clientNatsOptions(flags: NatsFlags, name: string, dataDir: string, configured?: string, party?: string): Promise<NatsOptions> {
  const opts = natsOptionsFrom({ ...flags, nats: flags.nats ?? configured }, name, party);
  if (opts.servers) return opts;
  const embedded = await embeddedServerStatus(dataDir);
  if (embedded) return { ...opts, servers: embedded.url };
  throw parleyError('ERR_CONFIG', 'no NATS server: give --nats URL, set PARLEY_NATS_URL, or start `parley home start` on this machine');
}
