/**
 * `parley verify contract.json --ca ca.pem`: checks a contract completely offline —
 * certificates, delegation, voucher, binding statement, bid proof against the committed
 * chain, and both signatures — one line per check. Exit 0 only when every check holds
 * (3 when one fails).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseCertificate } from '../crypto/x509/index.js';
import { checkContract, type Check } from '../protocol/contract.js';
import { parleyError } from '../protocol/errors.js';
import { parseJson } from '../protocol/wire.js';
import { action, commandGroup, emit, EXIT, type OutputOptions } from './kit/output.js';

export interface Verification {
  file: string;
  valid: boolean;
  checks: Check[];
}

export function verifyContractFile(file: string, caFile: string): Verification {
  let text: Uint8Array;
  let caText: string;
  try {
    text = readFileSync(file);
    caText = readFileSync(caFile, 'utf8');
  } catch (e) {
    throw parleyError('ERR_CONFIG', `cannot read ${(e as NodeJS.ErrnoException).path ?? file}`, e);
  }
  const r = checkContract(parseJson(text, 4 << 20), parseCertificate(caText));
  return { file, valid: r.valid, checks: r.checks };
}

export function renderVerification(v: Verification): string {
  const lines = v.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(18)} ${c.detail}`);
  return [...lines, v.valid ? `${v.file}: valid contract` : `${v.file}: NOT valid`].join('\n');
}

export function verifyCommand(): Command {
  return commandGroup('verify', 'check a contract completely offline')
    .argument('<contract>', 'contract file (general JWS JSON)')
    .requiredOption('--ca <file>', 'the CA certificate everyone trusts')
    .option('--json', 'print one JSON document')
    .action(
      action(async (file: string, flags: OutputOptions & { ca: string }) => {
        const v = verifyContractFile(file, flags.ca);
        emit(flags, v, renderVerification);
        if (!v.valid) process.exitCode = EXIT.VERIFICATION_FAILED;
      }),
    );
}
