/**
 * `parley verify FILE --ca ca.pem`: checks a contract completely offline — the JSON and its
 * canonical bytes, certificates, delegation, voucher, binding statement, bid proof against
 * the committed chain, the header keys and both signatures — or, for an evidence file of
 * `parley home evidence`, its seal and every record in it. One line per check. Exit 0 only
 * when every check holds (3 when one fails).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseCertificate } from '../crypto/x509/index.js';
import { checkContract, type Check } from '../protocol/contract.js';
import { checkEvidence, isEvidence } from '../protocol/evidence.js';
import { parleyError, ParleyError } from '../protocol/errors.js';
import { parseJson } from '../protocol/wire.js';
import { action, commandGroup, emit, EXIT, type OutputOptions } from './kit/output.js';

export interface Verification {
  file: string;
  /** a contract JWS, or an evidence file of `parley home evidence` */
  kind: 'contract' | 'evidence';
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
  const ca = parseCertificate(caText);
  let value: unknown;
  try {
    value = parseJson(text, 256 << 20);
  } catch (e) {
    // a file that is not JSON, or repeats a key, fails verification like any other defect
    if (!(e instanceof ParleyError)) throw e;
    return { file, kind: 'contract', valid: false, checks: [{ name: 'format', ok: false, detail: e.message, code: e.code }] };
  }
  const r = isEvidence(value) ? { kind: 'evidence' as const, ...checkEvidence(value, ca) } : { kind: 'contract' as const, ...checkContract(value, ca) };
  return { file, kind: r.kind, valid: r.valid, checks: r.checks };
}

export function renderVerification(v: Verification): string {
  const lines = v.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(18)} ${c.detail}${c.ok || !c.code ? '' : ` [${c.code}]`}`);
  return [...lines, v.valid ? `${v.file}: valid ${v.kind}` : `${v.file}: NOT valid`].join('\n');
}

export function verifyCommand(): Command {
  return commandGroup('verify', 'check a contract or an evidence file completely offline')
    .argument('<file>', 'contract file (general JWS JSON) or evidence file (parley home evidence)')
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
