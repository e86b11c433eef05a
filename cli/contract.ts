/**
 * `parley contract show FILE [--ca ca.pem] [--evidence FILE] [--json] [--html OUT]`: a
 * contract as a person reads it (protocol/contract-view.ts). With --ca every check of
 * `parley verify` runs and a failed one makes the exit code 3.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseCertificate } from '../crypto/x509/index.js';
import { describeContract, type ContractView } from '../protocol/contract-view.js';
import { parleyError } from '../protocol/errors.js';
import { parseJson } from '../protocol/wire.js';
import { action, commandGroup, emit, EXIT, type OutputOptions } from './kit/output.js';
import { contractHtml } from './contract-html.js';
import { readText } from './kit/read-text.js';

function readJson(file: string, what: string): unknown {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw parleyError('ERR_CONFIG', `cannot read ${what} ${file}`, e);
  }
  return parseJson(bytes, 256 << 20);
}

const money = (n: number, c: string) => `${n.toFixed(2)} ${c}`;

export function renderContract(v: ContractView): string {
  const status = v.valid === null ? 'not verified (no --ca)' : v.valid ? 'valid' : 'NOT valid';
  const lines = [
    `${v.title}`,
    `contract ${v.contractId}  session ${v.sn}  ${status}`,
    '',
    `  item         ${v.item} (${v.category})${Object.keys(v.attributes).length ? `, ${Object.entries(v.attributes).map(([k, x]) => `${k} ${String(x)}`).join(', ')}` : ''}`,
    `  quantity     ${v.quantity}`,
    `  unit price   ${money(v.unitPrice, v.currency)}`,
    `  total        ${money(v.total, v.currency)}`,
    `  delivery     ${v.deliveryDays} days`,
    `  warranty     ${v.warrantyMonths} months`,
    `  seller       ${v.seller.name}${v.seller.address ? `, ${v.seller.address}` : ''}${v.jurisdiction ? `; jurisdiction ${v.jurisdiction}` : ''}`,
    '',
    '  deadlines',
    `    issued              ${v.issuedAt}`,
    `    request deadline    ${v.requestDeadline}`,
    `    buyer completes by  ${v.completeBy}`,
    `    exchange deadline   ${v.exchangeDeadline}`,
    '',
    '  parties',
    ...v.parties.map((p) => `    ${p.role.padEnd(11)} ${p.id.padEnd(14)} ${p.subject}  valid ${p.notBefore} to ${p.notAfter}`),
    '',
    '  signed',
    ...v.signatures.map((s) => `    ${s.by.padEnd(14)} ${s.alg.padEnd(6)} ${s.key}`),
    `    how: ${v.signing.how === 'not shown' ? '' : `${v.signing.how}: `}${v.signing.detail}`,
    '',
    '  clauses',
    ...v.clauses.map((c, i) => `    ${i + 1}. ${c}`),
  ];
  if (v.checks.length) lines.push('', '  checks', ...v.checks.map((c) => `    ${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(18)} ${c.detail}${c.ok || !c.code ? '' : ` [${c.code}]`}`));
  return lines.join('\n');
}

interface ShowFlags extends OutputOptions {
  ca?: string;
  evidence?: string;
  html?: string;
}

export function contractCommand(): Command {
  const group = commandGroup('contract', 'read contracts');
  group
    .command('show')
    .description('a contract as a person reads it: parties, terms, total, deadlines, how it was signed, every check')
    .argument('<file>', 'contract file (general JWS JSON)')
    .option('--ca <file>', 'the CA certificate: runs every check of `parley verify` (exit 3 when one fails)')
    .option('--evidence <file>', "the arbiter's evidence file of the session (parley home evidence): shows whether the Agent Home resolved it")
    .option('--html <out>', 'also write one self-contained HTML page of the same')
    .option('--json', 'print one JSON document')
    .action(
      action(async (file: string, flags: ShowFlags) => {
        const ca = flags.ca ? parseCertificate(readText(flags.ca, 'CA certificate')) : undefined;
        const v = describeContract(readJson(file, 'contract'), { ca, evidence: flags.evidence ? readJson(flags.evidence, 'evidence file') : undefined });
        if (flags.html) {
          try {
            writeFileSync(flags.html, contractHtml(v));
          } catch (e) {
            throw parleyError('ERR_CONFIG', `cannot write ${flags.html}`, e);
          }
        }
        emit(flags, v, renderContract);
        if (v.valid === false) process.exitCode = EXIT.VERIFICATION_FAILED;
      }),
    );
  return group;
}
