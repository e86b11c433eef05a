/**
 * `parley buyer …`: the buyer's commands. Files live under <home>/buyer (buyer-cli/state.ts).
 */
import { readText } from '../cli/kit/read-text.js';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { NatsConnection } from 'nats';
import { connectNats } from '../agents/transport/connect.js';
import { caTrust, selfFrom } from '../agents/runtime/trust.js';
import { parseCertificate } from '../crypto/x509/index.js';
import { parleyError } from '../protocol/errors.js';
import { PurchaseRequestSchema, type PurchaseRequest } from '../protocol/commerce.js';
import type { ResultsReply } from '../protocol/directory.js';
import { checkSchema, parseJson } from '../protocol/wire.js';
import { parleyHome } from '../cli/kit/home-dir.js';
import { action, commandGroup, emit, note, progress, UsageError, type OutputOptions } from '../cli/kit/output.js';
import { clientNatsOptions, withNatsOptions, type NatsFlags } from '../cli/kit/nats-options.js';
import { passphraseFrom, readIdentityKey, withPassphraseOption, type PassphraseFlags } from '../cli/kit/passphrase.js';
import { keyFileText } from '../crypto/key-file.js';
import { writeFileAtomic } from '../agents/storage/atomic-file.js';
import { parseDuration } from '../cli/kit/duration.js';
import { BuyerFiles } from './state.js';
import { BuyerClient } from './client.js';
import { registerReportCommand } from './report.js';

interface Flags extends OutputOptions, NatsFlags, PassphraseFlags {
  home?: string;
}

function filesOf(flags: Flags): BuyerFiles {
  return new BuyerFiles(join(parleyHome(flags.home), 'buyer'));
}

/** Opens the buyer's identity and a connection, runs `fn`, and always closes the connection. */
async function withClient<T>(flags: Flags, fn: (client: BuyerClient, files: BuyerFiles) => Promise<T>): Promise<T> {
  const files = filesOf(flags);
  const config = files.config();
  const self = selfFrom(readText(files.certPath, 'buyer certificate'), readIdentityKey(files.keyPath, 'buyer key', passphraseFrom(flags)));
  const ca = parseCertificate(readText(files.caPath, 'CA certificate'));
  const nc: NatsConnection = await connectNats({ ...(await clientNatsOptions(flags, `parley-buyer-${self.id}`, parleyHome(flags.home), config.nats, self.id)), failFast: true });
  try {
    return await fn(new BuyerClient({ nc, self, trust: caTrust(ca), ca, home: config.home, files }), files);
  } finally {
    await nc.close();
  }
}

export function resultsTable(r: ResultsReply): string {
  const head = `session ${r.sn}: ${r.status}; ${r.progress.invited} merchants invited, ${r.progress.visited} visited, ${r.progress.skipped} skipped, ${r.progress.salesAgents} sales agents, ${r.progress.offersEvaluated} offers evaluated, ${r.progress.agreements} agreements`;
  if (!r.agreements.length) return `${head}\n(no agreement)`;
  const rows = [['#', 'merchant', 'utility', 'unit price', 'total', 'delivery', 'warranty', 'bid']];
  r.agreements.forEach((a, i) =>
    rows.push([
      String(i + 1),
      a.merchant,
      a.utility.toFixed(3),
      `${a.bid.price.toFixed(2)} ${a.bid.currency}`,
      `${(a.bid.price * a.bid.quantity).toFixed(2)}`,
      `${a.bid.deliveryDays} d`,
      `${a.bid.warrantyMonths} mo`,
      `${a.index}/${a.k}`,
    ]),
  );
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return [head, ...rows.map((r) => r.map((x, c) => (c < 2 ? x.padEnd(w[c]!) : x.padStart(w[c]!))).join('  '))].join('\n');
}

function parseAttrs(list: string[] = []): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new UsageError(`--attr ${kv}: expected key=value`);
    const v = kv.slice(i + 1);
    out[kv.slice(0, i)] = v === 'true' ? true : v === 'false' ? false : v !== '' && !Number.isNaN(Number(v)) ? Number(v) : v;
  }
  return out;
}

async function runInit(flags: Flags & { id: string; cert: string; key: string; ca: string; homeId: string }): Promise<void> {
  const files = filesOf(flags);
  const passphrase = passphraseFrom(flags);
  const keyPem = readIdentityKey(flags.key, 'key', passphrase);
  const self = selfFrom(readText(flags.cert, 'certificate'), keyPem);
  caTrust(readText(flags.ca, 'CA certificate')).verify(self.certPem, ['buyer']);
  if (self.id !== flags.id) throw parleyError('ERR_CERT_ID', `the certificate is for ${self.id}, not ${flags.id}`);
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  copyFileSync(flags.cert, files.certPath);
  copyFileSync(flags.ca, files.caPath);
  // 0600 from the start; with a passphrase kept encrypted (fresh salt and nonce), even when the source was not
  writeFileAtomic(files.keyPath, keyFileText(keyPem, passphrase), 0o600);
  files.saveConfig({ id: self.id, home: flags.homeId, ...(flags.nats ? { nats: flags.nats } : {}) });
  emit(flags, { id: self.id, home: flags.homeId, dir: files.dir }, (d) => `buyer ${d.id} ready in ${d.dir} (Agent Home ${d.home})`);
}

interface RequestFlags extends Flags {
  item: string;
  category: string;
  quantity: string;
  currency: string;
  attr?: string[];
  rules: string;
  deadline: string;
  bits: string;
}

async function runRequest(flags: RequestFlags): Promise<void> {
  let request: PurchaseRequest;
  try {
    request = checkSchema(PurchaseRequestSchema, { item: flags.item, category: flags.category, quantity: Number(flags.quantity), currency: flags.currency, attributes: parseAttrs(flags.attr) }, 'request');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const rules = parseJson(new TextEncoder().encode(readText(flags.rules, 'rules file')), 1 << 20);
  const deadline = new Date(Date.now() + parseDuration(flags.deadline, '--deadline'));
  const bits = Number(flags.bits);
  if (bits !== 2048 && bits !== 3072 && bits !== 4096) throw new UsageError('--bits must be 2048, 3072 or 4096');
  await withClient(flags, async (client) => {
    note(flags, `generating a ${bits}-bit session key and notifying the Agent Home…`);
    const session = await client.request({ request, rules, deadline, bits });
    progress(`session ${session.sn} open until ${session.deadline}`);
    const final = await client.waitForResults(session.sn, (r) =>
      progress(`  ${r.status}: ${r.progress.visited}/${r.progress.invited} hosts visited, ${r.progress.skipped} skipped, ${r.progress.salesAgents} sales agents, ${r.progress.offersEvaluated} offers evaluated, ${r.progress.agreements} agreements`),
    );
    emit(flags, final, resultsTable);
  });
}

async function runResults(sn: string, flags: Flags): Promise<void> {
  await withClient(flags, async (client) => emit(flags, await client.results(sn), resultsTable));
}

async function runSign(sn: string, flags: Flags & { merchant: string; withhold?: boolean; completeWithin: string; resolveWindow: string }): Promise<void> {
  await withClient(flags, async (client) => {
    const r = await client.sign(sn, flags.merchant, {
      withhold: flags.withhold,
      completeWithinMs: parseDuration(flags.completeWithin, '--complete-within'),
      resolveWindowMs: parseDuration(flags.resolveWindow, '--resolve-window'),
    });
    emit(flags, r, (d) => (d.contractFile ? `contract ${d.contractId} with ${d.merchant}: ${d.state}\n  ${d.contractFile}` : `contract ${d.contractId} with ${d.merchant}: ${d.state} (complete signature withheld)`));
  });
}

async function runContracts(flags: Flags): Promise<void> {
  const files = filesOf(flags);
  const list = files.exchanges().map((x) => ({ contractId: x.contractId, sn: x.sn, merchant: x.merchant, state: x.state, contractFile: x.contractFile ?? null, updated: x.updated }));
  emit(flags, { contracts: list }, (d) =>
    d.contracts.length ? d.contracts.map((c) => `${c.contractId}  ${c.merchant.padEnd(16)} ${c.state.padEnd(13)} ${c.contractFile ?? ''}`).join('\n') : 'no contracts yet',
  );
}

async function runInbox(flags: Flags): Promise<void> {
  await withClient(flags, async (client) => {
    const messages = await client.inbox();
    emit(flags, { messages }, (d) => (d.messages.length ? d.messages.map((m) => `#${m.seq} ${m.kind} from ${m.merchant} (session ${m.sn})${m.contractFile ? ` → ${m.contractFile}` : ''}`).join('\n') : 'inbox empty'));
  });
}

async function runAbort(contractId: string, flags: Flags): Promise<void> {
  await withClient(flags, async (client) => {
    const r = await client.abort(contractId);
    emit(flags, r, (d) => (d.outcome === 'aborted' ? `exchange ${d.contractId} aborted; the Agent Home's signed token is kept with it` : `exchange ${d.contractId} was already resolved: the contract is binding\n  ${d.contractFile ?? ''}`));
  });
}

export function buyerCommand(): Command {
  const buyer = commandGroup('buyer', "the buyer's commands: request, follow, sign, abort");
  const common = (c: Command) =>
    withPassphraseOption(
      withNatsOptions(c.option('--home <dir>', 'Parley data directory (default $PARLEY_HOME or $XDG_DATA_HOME/parley)').option('--json', 'print one JSON document')),
      "decrypts the buyer's identity key (init: and keeps it encrypted)",
    );
  common(
    buyer
      .command('init')
      .description('set up the buyer identity (a certificate issued by `parley ca issue --role buyer`)')
      .requiredOption('--id <id>', 'buyer id (as in the certificate)')
      .requiredOption('--cert <file>', 'buyer certificate')
      .requiredOption('--key <file>', 'buyer private key')
      .requiredOption('--ca <file>', 'CA certificate')
      .requiredOption('--home-id <id>', "the Agent Home's id"),
  ).action(action(runInit));
  common(
    buyer
      .command('request')
      .description('send a purchase request and follow the negotiation live')
      .requiredOption('--item <item>', 'item wanted')
      .requiredOption('--category <category>', 'category of the item')
      .requiredOption('--quantity <n>', 'quantity')
      .option('--currency <code>', 'currency', 'EUR')
      .option('--attr <key=value...>', 'required attribute (repeatable)')
      .requiredOption('--rules <file>', 'your private negotiation rules (JSON)')
      .option('--deadline <duration>', 'negotiation deadline from now', '60s')
      .option('--bits <n>', 'session key size', '2048'),
  ).action(action(runRequest));
  common(buyer.command('results').description('agreements of a session, ranked by your utility').argument('<sn>', 'session number')).action(action(runResults));
  common(
    buyer
      .command('sign')
      .description('sign the agreement with a merchant (writes the contract file)')
      .argument('<sn>', 'session number')
      .requiredOption('--merchant <id>', 'merchant to sign with')
      .option('--withhold', 'stop after the countersignature (testing: the merchant will resolve)')
      .option('--complete-within <duration>', 'time the merchant waits for your complete signature', '30s')
      .option('--resolve-window <duration>', 'time after that during which the Agent Home may resolve', '2m'),
  ).action(action(runSign));
  common(buyer.command('contracts').description('your exchanges and contract files')).action(action(runContracts));
  common(buyer.command('inbox').description("read what the Agent Home kept for you (countersignatures after a resolution)")).action(action(runInbox));
  common(buyer.command('abort').description('abort an exchange whose countersignature never came').argument('<contractId>', 'contract id (see `parley buyer contracts`)')).action(action(runAbort));
  registerReportCommand(buyer);
  return buyer;
}
