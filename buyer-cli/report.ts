/**
 * `parley buyer report SN --out FILE.html [--rules rules.json]`: one self-contained HTML file
 * for the buyer (opens from file:// with no network): the ranked agreements, a concession
 * chart of every bid the buyer can see (the revealed prefix in each agreement's proof) against
 * the buyer's own utility and reservation line, and each contract with its offline
 * verification. Everything is inline: uPlot, the chart and page scripts, the stylesheet, and
 * the data as JSON in a non-executed script tag; a Content-Security-Policy allows exactly
 * those inline scripts and styles (by hash) and nothing from anywhere else.
 */
import { resolveSessionRef } from '../cli/kit/session-ref.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { checkContract, type Check } from '../protocol/contract.js';
import { parseJson } from '../protocol/wire.js';
import { parseRules, utility, type Rules } from '../protocol/rules.js';
import type { ParsedCertificate } from '../crypto/x509/index.js';
import { uplotAsset, webAsset } from '../agents/console/server.js';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseCertificate } from '../crypto/x509/index.js';
import { writeFileAtomic } from '../agents/storage/atomic-file.js';
import { readText } from '../cli/kit/read-text.js';
import { parleyHome } from '../cli/kit/home-dir.js';
import { action, emit, type OutputOptions } from '../cli/kit/output.js';
import { BuyerFiles, type ExchangeFile, type SessionFile } from './state.js';

export interface ReportContract {
  contractId: string;
  merchant: string;
  state: string;
  file: string | null;
  valid: boolean | null;
  checks: Check[];
}

export interface ReportData {
  session: { sn: string; request: SessionFile['request']; created: string; deadline: string };
  reservation: number | null;
  agreements: Array<{ merchant: string; index: number; k: number; bid: unknown; utility: number }>;
  offers: Array<{ merchant: string; agreedIndex: number; rounds: Array<{ index: number; bid: unknown; utility: number | null }> }>;
  contracts: ReportContract[];
  generated: string;
}

export function reportData(session: SessionFile, exchanges: readonly ExchangeFile[], ca: ParsedCertificate, rules?: Rules): ReportData {
  const agreements = [...(session.agreements ?? [])].sort((a, b) => b.utility - a.utility || a.merchant.localeCompare(b.merchant));
  const contracts: ReportContract[] = exchanges
    .filter((x) => x.sn === session.sn)
    .map((x) => {
      let valid: boolean | null = null;
      let checks: Check[] = [];
      if (x.contractFile) {
        try {
          const r = checkContract(parseJson(readFileSync(x.contractFile), 4 << 20), ca);
          valid = r.valid;
          checks = r.checks;
        } catch (e) {
          valid = false;
          checks = [{ name: 'file', ok: false, detail: e instanceof Error ? e.message : 'unreadable' } as Check];
        }
      }
      return { contractId: x.contractId, merchant: x.merchant, state: x.state, file: x.contractFile ?? null, valid, checks };
    });
  return {
    session: { sn: session.sn, request: session.request, created: session.created, deadline: session.deadline },
    reservation: rules ? rules.reservation : null,
    agreements: agreements.map((a) => ({ merchant: a.merchant, index: a.index, k: a.k, bid: a.bid, utility: a.utility })),
    offers: agreements.map((a) => ({
      merchant: a.merchant,
      agreedIndex: a.index,
      rounds: a.proof.reveals.map((r, i) => ({ index: i + 1, bid: r.bid, utility: rules ? utility(rules, r.bid) : null })),
    })),
    contracts,
    generated: new Date().toISOString(),
  };
}

const sha = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

/** JSON that cannot end its script element: every `<` becomes \u003c (and U+2028/9 are escaped). */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export function reportHtml(data: ReportData): string {
  const scripts = [uplotAsset('uPlot.iife.min.js'), webAsset('chart.js').replace(/^export /gm, ''), webAsset('report.js')];
  const style = `${uplotAsset('uPlot.min.css')}\n${webAsset('console.css')}`;
  const csp = [`default-src 'none'`, `script-src ${scripts.map(sha).join(' ')}`, `style-src ${sha(style)}`, `img-src data:`, `base-uri 'none'`, `form-action 'none'`].join('; ');
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    `<title>Parley report</title>`,
    `<style>${style}</style>`,
    '</head><body>',
    '<header><h1>Parley buyer report</h1></header>',
    '<main id="main"></main>',
    `<script type="application/json" id="report-data">${scriptJson(data)}</script>`,
    ...scripts.map((s) => `<script>${s}</script>`),
    '</body></html>',
    '',
  ].join('\n');
}

/** `parley buyer report SN --out FILE.html [--rules FILE] [--home DIR]`: offline, from the buyer's files. */
export function registerReportCommand(buyer: Command): void {
  buyer
    .command('report')
    .description('write one self-contained HTML report of a session (agreements, concession chart against your utility, contracts); opens offline')
    .argument('<sn>', 'session number (a unique prefix, or last)')
    .requiredOption('--out <file>', 'the HTML file to write')
    .option('--rules <file>', 'your negotiation rules (the file given to `buyer request`): adds your utility and reservation line')
    .option('--home <dir>', 'Parley data directory (default $PARLEY_HOME or $XDG_DATA_HOME/parley)')
    .option('--json', 'print one JSON document')
    .action(
      action(async (sn: string, flags: OutputOptions & { out: string; rules?: string; home?: string }) => {
        const files = new BuyerFiles(join(parleyHome(flags.home), 'buyer'));
        const session = files.session(resolveSessionRef(sn, files.sessionsByAge().map((x) => x.sn), files.dir));
        const ca = parseCertificate(readText(files.caPath, 'CA certificate'));
        const rules = flags.rules ? parseRules(parseJson(readFileSync(flags.rules), 1 << 20)) : undefined;
        const data = reportData(session, files.exchanges(), ca, rules);
        writeFileAtomic(flags.out, reportHtml(data), 0o600);
        emit(flags, { file: flags.out, agreements: data.agreements.length, contracts: data.contracts.length }, (d) => `report written: ${d.file} (${d.agreements} agreements, ${d.contracts} contracts); open it in a browser`);
      }),
    );
}
