/**
 * `parley ca …`: create a CA, issue party certificates, inspect and validate them.
 *
 *   parley ca init  [--dir D] [--id ID] [--days N] [--force] [--passphrase-file F] [--json]
 *   parley ca issue [--dir D] --role buyer|merchant|agent-home --id ID [--days N] [--out DIR] [--force] [--passphrase-file F] [--json]
 *   parley ca show  CERT.pem [--ca ca.pem] [--role R] [--id ID] [--json]
 *
 * Exit codes: 0 ok, 1 failure, 2 usage, 3 certificate validation failed (`show --ca`).
 * Private keys are written to files with mode 0600 and never printed; with a passphrase
 * (--passphrase-file or $PARLEY_PASSPHRASE_FILE) they are written encrypted.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { isParleyError } from '../crypto/errors.js';
import { DEFAULT_LEAF_DAYS, MAX_DAYS, PARTY_ROLES, ROLES, isPartyId, isPartyRole, isRole, verifyCertificate, type ParsedCertificate, type Role } from '../crypto/x509/index.js';
import { parleyHome } from '../cli/kit/home-dir.js';
import { EXIT, UsageError, action, commandGroup, emit, note, reportError, type OutputOptions } from '../cli/kit/output.js';
import { passphraseFrom, withPassphraseOption, type PassphraseFlags } from '../cli/kit/passphrase.js';
import { initCaDir, issueToDir, readCertificateFile } from './store.js';

/** Default CA directory: `<parley home>/ca`. */
export function defaultCaDir(): string {
  return join(parleyHome(), 'ca');
}

function parseDays(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_DAYS) throw new UsageError(`--days must be an integer from 1 to ${MAX_DAYS}`);
  return n;
}

function checkId(value: string | undefined, flag = '--id'): string | undefined {
  if (value !== undefined && !isPartyId(value)) {
    throw new UsageError(`${flag} must be a lowercase party id matching ^[a-z0-9][a-z0-9_-]{0,62}$`);
  }
  return value;
}

/** The certificate fields every command reports (no key material). */
function describe(cert: ParsedCertificate) {
  return {
    id: cert.id,
    role: cert.role,
    subject: cert.subject,
    issuer: cert.issuer,
    serial: cert.serial,
    fingerprint: cert.fingerprint,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    publicKey: Buffer.from(cert.publicKey).toString('hex'),
  };
}

function lines(rows: [string, string | undefined][]): string {
  return rows
    .filter((r): r is [string, string] => r[1] !== undefined)
    .map(([k, v]) => `  ${k.padEnd(12)} ${v}`)
    .join('\n');
}

interface InitOpts extends OutputOptions, PassphraseFlags {
  dir?: string;
  id?: string;
  days?: string;
  force?: boolean;
}

async function runInit(opts: InitOpts): Promise<void> {
  const id = checkId(opts.id);
  const days = parseDays(opts.days);
  const passphrase = passphraseFrom(opts);
  const { paths, certificate } = await initCaDir(opts.dir ?? defaultCaDir(), {
    ...(id !== undefined && { id }),
    ...(days !== undefined && { days }),
    force: opts.force === true,
    ...(passphrase !== undefined && { passphrase }),
  });
  const data = { dir: paths.dir, certificate: paths.cert, key: paths.key, keyEncrypted: passphrase !== undefined, ...describe(certificate) };
  emit(opts, data, (d) =>
    [
      `Created CA ${d.id} in ${d.dir}`,
      lines([
        ['certificate', d.certificate],
        ['key', `${d.key} (mode 0600${d.keyEncrypted ? ', encrypted' : ''}, keep it secret)`],
        ['fingerprint', `sha256:${d.fingerprint}`],
        ['valid', `${d.notBefore} to ${d.notAfter}`],
      ]),
    ].join('\n'),
  );
}

interface IssueOpts extends OutputOptions, PassphraseFlags {
  dir?: string;
  role: string;
  id: string;
  days?: string;
  out?: string;
  force?: boolean;
}

async function runIssue(opts: IssueOpts): Promise<void> {
  if (!isPartyRole(opts.role)) throw new UsageError(`--role must be one of ${PARTY_ROLES.join(', ')}`);
  const id = checkId(opts.id) as string;
  const days = parseDays(opts.days);
  const passphrase = passphraseFrom(opts);
  const result = await issueToDir(opts.dir ?? defaultCaDir(), {
    role: opts.role,
    id,
    ...(days !== undefined && { days }),
    ...(opts.out !== undefined && { out: opts.out }),
    force: opts.force === true,
    ...(passphrase !== undefined && { passphrase }),
  });
  if (result.clampedToCa) {
    note(opts, `note: the certificate ends with its CA on ${result.ca.certificate.notAfter.toISOString()} (the default ${DEFAULT_LEAF_DAYS} days would outlive it)`);
  }
  if ((result.ca.keyMode & 0o077) !== 0) {
    note(opts, `warning: ${result.ca.paths.key} is readable by other users (mode ${result.ca.keyMode.toString(8)}); run chmod 600 on it`);
  }
  const data = {
    certificate: result.certPath,
    key: result.keyPath,
    keyEncrypted: passphrase !== undefined,
    ...describe(result.certificate),
    ca: { certificate: result.ca.paths.cert, fingerprint: result.ca.certificate.fingerprint },
  };
  emit(opts, data, (d) =>
    [
      `Issued ${d.role} certificate for ${d.id}`,
      lines([
        ['certificate', d.certificate],
        ['key', `${d.key} (mode 0600${d.keyEncrypted ? ', encrypted' : ''}, keep it secret)`],
        ['fingerprint', `sha256:${d.fingerprint}`],
        ['valid', `${d.notBefore} to ${d.notAfter}`],
        ['ca', `${d.ca.certificate} (sha256:${d.ca.fingerprint})`],
      ]),
    ].join('\n'),
  );
}

interface ShowOpts extends OutputOptions {
  ca?: string;
  role?: string;
  id?: string;
}

async function runShow(certPath: string, opts: ShowOpts): Promise<void> {
  if (opts.role !== undefined && !isRole(opts.role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
  if ((opts.role !== undefined || opts.id !== undefined) && opts.ca === undefined) {
    throw new UsageError('--role and --id are checked only together with --ca');
  }
  const id = checkId(opts.id);
  const cert = readCertificateFile(certPath);
  let validation: { ca: string; caFingerprint: string; role?: Role; id?: string } | undefined;
  if (opts.ca !== undefined) {
    const ca = readCertificateFile(opts.ca);
    try {
      verifyCertificate(cert, ca, {
        ...(opts.role !== undefined && { role: opts.role as Role }),
        ...(id !== undefined && { id }),
      });
    } catch (err) {
      if (!isParleyError(err) || !err.code.startsWith('ERR_CERT_')) throw err;
      process.exitCode = Math.max(reportError(err, opts), EXIT.VERIFICATION_FAILED);
      return;
    }
    validation = { ca: opts.ca, caFingerprint: ca.fingerprint, ...(opts.role !== undefined && { role: opts.role as Role }), ...(id !== undefined && { id }) };
  }
  const data = { file: certPath, ...describe(cert), isCa: cert.isCa, keyUsage: [...cert.keyUsage], valid: validation ? true : undefined, validatedAgainst: validation };
  emit(opts, data, (d) =>
    [
      `${d.file}: ${d.isCa ? 'CA' : d.role} certificate for ${d.id}`,
      lines([
        ['subject', d.subject],
        ['issuer', d.issuer],
        ['serial', d.serial],
        ['fingerprint', `sha256:${d.fingerprint}`],
        ['valid', `${d.notBefore} to ${d.notAfter}`],
        ['key usage', d.keyUsage.join(', ') || '(none)'],
        ['public key', `ed25519:${d.publicKey}`],
        ['verified', d.validatedAgainst ? `yes: chain to ${d.validatedAgainst.ca}, validity now${d.validatedAgainst.role ? `, role ${d.validatedAgainst.role}` : ''}${d.validatedAgainst.id ? `, id ${d.validatedAgainst.id}` : ''}` : 'not checked (give --ca)'],
      ]),
    ].join('\n'),
  );
}

export function caCommand(): Command {
  const ca = commandGroup('ca', 'certification authority: create a CA, issue and inspect party certificates');

  withPassphraseOption(
    ca
      .command('init')
      .description('create a CA (Ed25519 key and self-signed X.509 certificate)')
      .option('--dir <dir>', 'CA directory (default <parley home>/ca)')
      .option('--id <id>', 'CA id (default parley-ca)')
      .option('--days <n>', 'validity in days (default 3650)')
      .option('--force', 'replace an existing CA in the directory'),
    'encrypts ca.key',
  )
    .option('--json', 'print one JSON document')
    .action(action(runInit));

  withPassphraseOption(
    ca
      .command('issue')
      .description('generate an identity key for a party and issue its certificate')
      .option('--dir <dir>', 'CA directory (default <parley home>/ca)')
      .requiredOption('--role <role>', `party role: ${PARTY_ROLES.join(', ')}`)
      .requiredOption('--id <id>', 'party id: lowercase letters, digits, _ and -')
      .option('--days <n>', 'validity in days (default 365)')
      .option('--out <dir>', 'where to write <id>.pem and <id>.key (default <dir>/issued)')
      .option('--force', 'replace an existing certificate and key for this id'),
    'decrypts ca.key and encrypts the issued key',
  )
    .option('--json', 'print one JSON document')
    .action(action(runIssue));

  ca.command('show')
    .description('print a certificate; with --ca, validate it (exit 3 when invalid)')
    .argument('<cert>', 'certificate file (PEM or DER)')
    .option('--ca <file>', 'CA certificate to validate against')
    .option('--role <role>', `required role (with --ca): ${ROLES.join(', ')}`)
    .option('--id <id>', 'required party id (with --ca)')
    .option('--json', 'print one JSON document')
    .action(action(runShow));

  return ca;
}
