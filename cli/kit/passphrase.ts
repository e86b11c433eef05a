/**
 * Part of cli/kit. The passphrase of encrypted key files: `--passphrase-file F`, else
 * `$PARLEY_PASSPHRASE_FILE`, else none. Only a file is accepted (never the passphrase on
 * the command line, where `ps` and shell history would show it), and it is never printed.
 */
import type { Command } from 'commander';
import { isParleyError } from '../../crypto/errors.js';
import { readPassphraseFile, readPrivateKeyFile } from '../../crypto/key-file.js';
import { parleyError } from '../../protocol/errors.js';

export interface PassphraseFlags {
  passphraseFile?: string;
}

export const PASSPHRASE_ENV = 'PARLEY_PASSPHRASE_FILE';

/** Adds `--passphrase-file`; `use` says what the passphrase does for this command. */
export function withPassphraseOption(cmd: Command, use = 'decrypts the private key files'): Command {
  return cmd.option('--passphrase-file <file>', `file holding the passphrase that ${use} (default: $${PASSPHRASE_ENV})`);
}

/** The passphrase the flags or the environment name, or undefined when neither does. */
export function passphraseFrom(flags: PassphraseFlags): Uint8Array | undefined {
  const file = flags.passphraseFile ?? (process.env[PASSPHRASE_ENV] || undefined);
  return file === undefined ? undefined : readPassphraseFile(file);
}

/**
 * A role's identity key file as PEM text (decrypted with `passphrase` when it is
 * encrypted), for `selfFrom`. A missing file is ERR_CONFIG, like the role's other identity
 * files; ERR_KEY_FILE and ERR_PASSPHRASE pass through.
 */
export function readIdentityKey(path: string, what: string, passphrase: Uint8Array | undefined, fix?: string): string {
  try {
    return readPrivateKeyFile(path, passphrase);
  } catch (e) {
    if (isParleyError(e, 'ERR_FILE_NOT_FOUND')) throw parleyError('ERR_CONFIG', `cannot read ${what} ${path}${fix ? `: ${fix}` : ''}`, e);
    throw e;
  }
}
