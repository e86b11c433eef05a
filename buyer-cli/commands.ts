/**
 * `parley buyer …`: the buyer's commands. Files live under <home>/buyer (buyer-cli/state.ts).
 */
import { parleyCommand } from '../cli/kit/invocation.js';
import { readText } from '../cli/kit/read-text.js';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { NatsConnection } from 'nats';
import { connectNats } from '../agents/transport/connect.js';
import { caTrust, selfFrom } from '../agents/runtime/trust.js';
import { parseCertificate } from '../crypto/x509/index.js';
import { parleyError } from '../protocol/errors.js';
import { PurchaseRequestSchema, type PurchaseRequest } from '../protocol/commerce.js';
import type { ResultsReply } from '../protocol/directory.js';
import { checkSchema } from '../protocol/wire.js';
import { RulesSchema, parseRules, type Rules } from '../protocol/rules.js';
import { checkJsonFile, parseJsonText } from '../protocol/json-file.js';
import { isParleyError } from '../protocol/errors.js';
import { resolveSessionRef } from '../cli/kit/session-ref.js';
import { textTable } from '../cli/kit/table.js';
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

/** The buyer's files; session keys are sealed under the passphrase, read once per invocation. */
function filesOf(flags: Flags, passphrase = passphraseFrom(flags)): BuyerFiles {
  return new BuyerFiles(join(parleyHome(flags.home), 'buyer'), { passphrase });
}

/** Opens the buyer's identity and a connection, runs `fn`, and always closes the connection. */
async function withClient<T>(flags: Flags, fn: (client: BuyerClient, files: BuyerFiles) => Promise<T>): Promise<T> {
  const passphrase = passphraseFrom(flags);
  const files = filesOf(flags, passphrase);
  const config = files.config();
  const fix = 'install your identity with `parley buyer init` (a certificate from `parley ca issue --role buyer`)';
  const self = selfFrom(readText(files.certPath, 'buyer certificate', fix), readIdentityKey(files.keyPath, 'buyer key', passphrase, fix));
  const ca = parseCertificate(readText(files.caPath, 'CA certificate', fix));
  const opts = await clientNatsOptions(flags, `parley-buyer-${self.id}`, parleyHome(flags.home), config.nats, self.id);
  const nc: NatsConnection = await connectNats({ ...opts, failFast: true });
  try {
    return await fn(new BuyerClient({ nc, self, trust: caTrust(ca), ca, home: config.home, files }), files);
  } catch (e) {
    // "nobody is serving parley.v1.home.…" means: the Agent Home is not running
    if (isParleyError(e, 'ERR_UNAVAILABLE')) {
      const url = Array.isArray(opts.servers) ? opts.servers.join(',') : String(opts.servers);
      throw parleyError('ERR_UNAVAILABLE', `Agent Home ${config.home} is not answering on ${url}; is \`parley home start\` running?`, e);
    }
    throw e;
  } finally {
    await nc.close();
  }
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/** A session number as typed (whole, a unique prefix, or `last`) → the whole number. */
function sessionRef(flags: Flags, ref: string): string {
  const files = filesOf(flags);
  return resolveSessionRef(ref, files.sessionsByAge().map((x) => x.sn), files.dir);
}

/** Reads and checks the rules file: JSON errors and unknown keys at file:line:column, then the rules' own constraints. */
function readRules(file: string): Rules {
  const text = readText(file, 'rules file', 'give the path of your rules (an example: examples/rules.json)');
  const value = parseJsonText(file, text, 'ERR_RULES_INVALID');
  checkJsonFile(file, text, value, RulesSchema, 'ERR_RULES_INVALID');
  try {
    return parseRules(value);
  } catch (e) {
    if (isParleyError(e, 'ERR_RULES_INVALID')) throw parleyError('ERR_RULES_INVALID', `${file}: ${e.message}`, e);
    throw e;
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
  note(flags, `next: ${parleyCommand()} buyer request --item ITEM --category CAT --quantity N --rules rules.json`);
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

/**
 * Ctrl-C while following a session: the session is safe in JetStream (and its key in the
 * buyer's files), so say where it stands and how to go on, then exit 130.
 */
function onInterrupt(flags: Flags, sn: () => string | undefined): () => void {
  const handler = () => {
    const open = sn();
    if (open) {
      progress(`\ninterrupted: session ${open} goes on without you until its deadline; it is kept in JetStream by the Agent Home and its key in ${filesOf(flags).dir}`);
      progress(`continue with: ${parleyCommand()} buyer results ${open.slice(0, 8)} --follow`);
    } else {
      progress('\ninterrupted before the Agent Home answered: no session was opened on your side; run the request again');
    }
    process.exit(130);
  };
  process.once('SIGINT', handler);
  return () => process.off('SIGINT', handler);
}

/** Progress for people: the counts, then one line per merchant as it agrees. */
function progressReporter(): (r: ResultsReply) => void {
  const told = new Set<string>();
  return (r) => {
    progress(progressLine(r));
    for (const a of r.agreements) {
      if (told.has(a.merchant)) continue;
      told.add(a.merchant);
      progress(`    ${a.merchant}: agreed at bid ${a.index}/${a.k}, ${a.bid.price.toFixed(2)} ${a.bid.currency}/unit (utility ${a.utility.toFixed(3)})`);
    }
  };
}

function progressLine(r: ResultsReply): string {
  return `  ${r.status}: ${r.progress.visited}/${r.progress.invited} hosts visited, ${r.progress.skipped} skipped, ${r.progress.salesAgents} sales agents, ${r.progress.offersEvaluated} offers evaluated, ${r.progress.agreements} agreements`;
}

function signHint(flags: Flags, r: ResultsReply): void {
  const best = r.agreements[0];
  if (best) note(flags, `next: ${parleyCommand()} buyer sign ${r.sn.slice(0, 8)} --merchant ${best.merchant}   (the best agreement for you; any listed merchant can be chosen)`);
  else if (r.status === 'open') note(flags, `next: ${parleyCommand()} buyer results ${r.sn.slice(0, 8)} --follow`);
}

async function runRequest(flags: RequestFlags): Promise<void> {
  // every input is checked before any key, network or JetStream work
  let request: PurchaseRequest;
  try {
    request = checkSchema(PurchaseRequestSchema, { item: flags.item, category: flags.category, quantity: Number(flags.quantity), currency: flags.currency, attributes: parseAttrs(flags.attr) }, 'request');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const rules = readRules(flags.rules);
  const deadline = new Date(Date.now() + parseDuration(flags.deadline, '--deadline'));
  const bits = Number(flags.bits);
  if (bits !== 2048 && bits !== 3072 && bits !== 4096) throw new UsageError('--bits must be 2048, 3072 or 4096');
  let sn: string | undefined;
  const release = onInterrupt(flags, () => sn);
  try {
    await withClient(flags, async (client) => {
      note(flags, `generating a ${bits}-bit session key and notifying the Agent Home…`);
      const session = await client.request({ request, rules, deadline, bits });
      sn = session.sn;
      progress(`session ${session.sn} open until ${session.deadline}`);
      const final = await client.waitForResults(session.sn, progressReporter());
      emit(flags, final, resultsTable);
      signHint(flags, final);
    });
  } finally {
    release();
  }
}

async function runResults(ref: string, flags: Flags & { follow?: boolean }): Promise<void> {
  const sn = sessionRef(flags, ref);
  const release = flags.follow ? onInterrupt(flags, () => sn) : () => undefined;
  try {
    await withClient(flags, async (client) => {
      const r = flags.follow ? await client.waitForResults(sn, progressReporter()) : await client.results(sn);
      emit(flags, r, resultsTable);
      signHint(flags, r);
    });
  } finally {
    release();
  }
}

async function runSessions(flags: Flags): Promise<void> {
  const files = filesOf(flags);
  const signed = new Map<string, string[]>();
  for (const x of files.exchanges()) signed.set(x.sn, [...(signed.get(x.sn) ?? []), `${x.merchant}:${x.state}`]);
  const sessions = files.sessionsByAge().map((x) => ({
    sn: x.sn,
    created: x.created,
    deadline: x.deadline,
    item: x.request.item,
    quantity: x.request.quantity,
    agreements: x.agreements?.length ?? null,
    exchanges: signed.get(x.sn) ?? [],
  }));
  emit(flags, { sessions }, (d) =>
    d.sessions.length
      ? textTable(
          ['SESSION', 'OPENED', 'DEADLINE', 'ITEM', 'QTY', 'AGREEMENTS', 'EXCHANGES'],
          d.sessions.map((x) => [x.sn, x.created.replace(/\.\d+Z$/, 'Z'), x.deadline.replace(/\.\d+Z$/, 'Z'), x.item, String(x.quantity), x.agreements === null ? '-' : String(x.agreements), x.exchanges.join(' ') || '-']),
          [4, 5],
        )
      : 'no sessions yet (parley buyer request …)',
  );
}

async function runSign(ref: string, flags: Flags & { merchant: string; withhold?: boolean; also?: boolean; completeWithin: string; resolveWindow: string }): Promise<void> {
  const sn = sessionRef(flags, ref);
  const completeWithinMs = parseDuration(flags.completeWithin, '--complete-within');
  const resolveWindowMs = parseDuration(flags.resolveWindow, '--resolve-window');
  // each contract binds: a second merchant in one session buys the goods twice
  const others = filesOf(flags).exchanges().filter((x) => x.sn === sn && x.merchant !== flags.merchant && x.state !== 'aborted' && x.state !== 'refused');
  if (others.length && !flags.also) {
    const warning = `warning: you already signed with ${others.map((x) => `${x.merchant} (${x.state})`).join(', ')} in session ${sn}; a contract with ${flags.merchant} is a second, binding purchase`;
    progress(warning);
    // a person at a terminal confirms; a script (no TTY) is only warned (--also silences it)
    if (process.stdin.isTTY && !flags.json && !(await confirm('sign anyway? [y/N] '))) throw new UsageError('not signed');
  }
  await withClient(flags, async (client) => {
    const r = await client.sign(sn, flags.merchant, {
      withhold: flags.withhold,
      completeWithinMs,
      resolveWindowMs,
    });
    emit(flags, r, (d) => (d.contractFile ? `contract ${d.contractId} with ${d.merchant}: ${d.state}\n  ${d.contractFile}` : `contract ${d.contractId} with ${d.merchant}: ${d.state} (complete signature withheld)`));
    if (r.contractFile) note(flags, `next: ${parleyCommand()} verify ${r.contractFile} --ca ${filesOf(flags).caPath}`);
  });
}

async function runContracts(flags: Flags): Promise<void> {
  const files = filesOf(flags);
  const list = files.exchanges().map((x) => ({ contractId: x.contractId, sn: x.sn, merchant: x.merchant, state: x.state, contractFile: x.contractFile ?? null, updated: x.updated }));
  emit(flags, { contracts: list }, (d) =>
    d.contracts.length
      ? textTable(
          ['CONTRACT', 'SESSION', 'MERCHANT', 'STATE', 'FILE'],
          d.contracts.map((c) => [c.contractId, c.sn.slice(0, 8), c.merchant, c.state, c.contractFile ?? '-']),
        )
      : 'no contracts yet',
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
  common(
    buyer
      .command('results')
      .description('agreements of a session, ranked by your utility')
      .argument('<sn>', 'session number (a unique prefix, or `last`)')
      .option('--follow', 'follow the negotiation live until the session settles'),
  ).action(action(runResults));
  common(buyer.command('sessions').description('your purchase sessions, oldest first')).action(action(runSessions));
  common(
    buyer
      .command('sign')
      .description('sign the agreement with a merchant (writes the contract file)')
      .argument('<sn>', 'session number (a unique prefix, or `last`)')
      .requiredOption('--merchant <id>', 'merchant to sign with')
      .option('--also', 'you mean a second purchase: sign without asking although you already signed with another merchant in this session')
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
