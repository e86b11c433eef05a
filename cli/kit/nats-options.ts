/**
 * The connection options every networked command takes: --nats URL[,URL…], --nkey-seed-file,
 * --tls-ca (each falls back to PARLEY_NATS_URL, PARLEY_NATS_NKEY_SEED_FILE, PARLEY_NATS_TLS_CA).
 */
import type { Command } from 'commander';
import { natsOptionsFromEnv, type NatsOptions } from '../../agents/transport/connect.js';

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

export function natsOptionsFrom(flags: NatsFlags, name: string): NatsOptions {
  return natsOptionsFromEnv({ servers: flags.nats, nkeySeedFile: flags.nkeySeedFile, tlsCaFile: flags.tlsCa, name });
}
