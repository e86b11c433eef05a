/**
 * `parley demo [--out DIR]`: the whole protocol in one command, on a local nats-server it
 * starts itself. A CA; an Agent Home; three stores from examples/store-{a,b,c}.json (three
 * strategies); a buyer with examples/rules.json. It runs a session and prints the
 * negotiation transcript, signs with the best offer, then signs a second contract while
 * withholding the complete signature so the store resolves through the Agent Home; writes
 * both contracts, the arbiter's evidence, the buyer's HTML report and the CA certificate to
 * DIR and verifies them as `parley verify` does.
 * With `--console` it then keeps everything up and runs the arbiter console on the demo's
 * JetStream data (`parley home console`), until Ctrl-C.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { NatsConnection } from 'nats';
import { startNatsServer } from '../agents/transport/nats-server.js';
import { connectNats } from '../agents/transport/connect.js';
import { subjectPatterns } from '../protocol/subjects.js';
import { caTrust, type Self } from '../agents/runtime/trust.js';
import { createCa, issueCertificate, type CertificateAuthority } from '../crypto/x509/index.js';
import { ed25519PrivateKeyPem, generateIdentityKey } from '../crypto/ed25519.js';
import type { PartyRole } from '../crypto/x509/profile.js';
import { AgentHome } from '../agent-home/service.js';
import { generateHomeSecrets } from '../agent-home/secrets.js';
import { buildEvidence } from '../agent-home/evidence.js';
import { StoreDaemon } from '../store/daemon.js';
import { parseStoreConfig } from '../store/config.js';
import { BuyerClient, newSessionKey } from '../buyer-cli/client.js';
import { BuyerFiles } from '../buyer-cli/state.js';
import { resultsTable } from '../buyer-cli/commands.js';
import { reportData, reportHtml } from '../buyer-cli/report.js';
import { parseRules } from '../protocol/rules.js';
import type { PurchaseRequest } from '../protocol/commerce.js';
import { parleyError } from '../protocol/errors.js';
import { action, commandGroup, emit, type OutputOptions } from './kit/output.js';
import { stopSignal } from './kit/daemon.js';
import { consoleLine, parsePort, type ConsoleFlags } from './kit/console-flags.js';
import { startArbiterConsole } from '../agent-home/console-command.js';
import { renderVerification, verifyContractFile, type Verification } from './verify.js';

const EXAMPLES = resolve(dirname(fileURLToPath(import.meta.url)), '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []), 'examples');
const STORES = ['store-a.json', 'store-b.json', 'store-c.json'];

export interface DemoOptions {
  /** leave the arbiter console running on the demo's data (`parley demo --console`) */
  console?: { host?: string; port?: number };
}

export interface DemoResult {
  out: string;
  sn: string;
  contracts: Verification[];
  /** the arbiter's evidence file of the session (parley home evidence) */
  evidence: Verification;
  /** the buyer's HTML report of the session (parley buyer report --rules) */
  report: string;
  seconds: number;
  /** with `console`: the console's URL (token included) and what stops it and the demo's servers */
  console?: { url: string; close(): Promise<void> };
}

async function party(ca: CertificateAuthority, id: string, role: PartyRole): Promise<Self> {
  const k = generateIdentityKey();
  const cert = await issueCertificate(ca, { role, id, publicKey: k.publicKey });
  return { id, role, publicKey: k.publicKey, secretKey: k.secretKey, certPem: cert.pem };
}

async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw parleyError('ERR_TIMEOUT', `demo: ${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function runDemo(outDir: string, say: (line: string) => void, opts: DemoOptions = {}): Promise<DemoResult> {
  const started = Date.now();
  const out = resolve(outDir);
  const work = mkdtempSync(join(tmpdir(), 'parley-demo-'));
  const server = await startNatsServer();
  const conns: NatsConnection[] = [];
  const stoppers: Array<() => Promise<void>> = [];
  // each party replies on its own inbox, the only subject any responder answers on
  const conn = async (id: string) => {
    const nc = await connectNats({ servers: server.url, name: id, inboxPrefix: subjectPatterns.inboxPrefix(id) });
    conns.push(nc);
    return nc;
  };
  const teardown = async () => {
    for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
    await Promise.allSettled(conns.map((c) => c.close()));
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  };
  let kept = false;
  try {
    say(`nats-server with JetStream on ${server.url}`);
    const ca = await createCa({ id: 'parley-demo-ca' });
    const trust = caTrust(ca.certificate);

    const homeSelf = await party(ca, 'home', 'agent-home');
    const home = await AgentHome.open({ nc: await conn('home'), self: homeSelf, trust, ca: ca.certificate, secrets: generateHomeSecrets(), settings: { hopTimeoutMs: 1500 } });
    await home.start();
    stoppers.push(() => home.stop());
    say('Agent Home "home" started');

    for (const file of STORES) {
      const raw = JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as { id: string };
      const self = await party(ca, raw.id, 'merchant');
      const dir = join(work, 'stores', raw.id);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'ca.pem'), ca.certificate.pem);
      writeFileSync(join(dir, `${raw.id}.pem`), self.certPem);
      writeFileSync(join(dir, `${raw.id}.key`), ed25519PrivateKeyPem(self.secretKey), { mode: 0o600 });
      const config = parseStoreConfig(raw, dir);
      const store = await StoreDaemon.open({ nc: await conn(raw.id), config, self, trust, ca: ca.certificate, dataDir: join(dir, 'data') });
      await store.start();
      stoppers.push(() => store.stop());
      say(`store ${config.id} started: ${config.name}`);
    }
    await until('store registration', 10_000, async () => ((await home.state.merchants()).length === STORES.length ? true : undefined));

    const buyerSelf = await party(ca, 'alice', 'buyer');
    const files = new BuyerFiles(join(work, 'buyer'));
    const buyer = new BuyerClient({ nc: await conn('alice'), self: buyerSelf, trust, ca: ca.certificate, home: 'home', files });
    const request: PurchaseRequest = { item: 'laptop-pro-14', category: 'laptops', quantity: 2, currency: 'EUR', attributes: { ram: '32GB' } };
    const rules = JSON.parse(readFileSync(join(EXAMPLES, 'rules.json'), 'utf8')) as unknown;
    const session = await buyer.request({ request, rules, deadline: new Date(Date.now() + 60_000), sessionKey: await newSessionKey(2048) });
    say(`\nbuyer alice asks for ${request.quantity} × ${request.item} (session ${session.sn})`);
    const results = await buyer.waitForResults(session.sn, (r) =>
      say(`  ${r.status}: ${r.progress.visited}/${r.progress.invited} hosts visited, ${r.progress.salesAgents} sales agents, ${r.progress.offersEvaluated} offers evaluated, ${r.progress.agreements} agreements`),
    );

    say('\nnegotiation transcript (the Agent Home’s record; the rules never left it):');
    const s = (await home.state.session(session.sn))!;
    for (const m of s.invited) {
      const n = await home.state.negotiation(session.sn, m);
      if (!n) {
        say(`  ${m}: no sales agent (declined)`);
        continue;
      }
      say(`  ${m}: ${n.status} after ${n.rounds.length} of ${n.k} bids`);
      for (const r of n.rounds) {
        say(`    bid ${r.index}: ${r.bid.price.toFixed(2)} ${r.bid.currency}/unit, ${r.bid.deliveryDays} d delivery, ${r.bid.warrantyMonths} mo warranty → ${r.accept ? 'ACCEPT' : 'reject'} (utility ${r.utility.toFixed(3)})`);
      }
    }
    say(`\n${resultsTable(results)}`);
    if (results.agreements.length < 2) throw parleyError('ERR_AGREEMENT_UNKNOWN', 'the demo needs two agreements');

    const best = results.agreements[0]!;
    say(`\nexchange 1: signing with ${best.merchant} (best offer); the Agent Home takes no part`);
    const first = await buyer.sign(session.sn, best.merchant, { completeWithinMs: 10_000 });
    say(`  ${first.state}: both signatures exchanged directly between alice and ${best.merchant}`);

    const second = results.agreements[1]!;
    say(`exchange 2: signing with ${second.merchant}, but the buyer withholds its complete signature`);
    const withheld = await buyer.sign(session.sn, second.merchant, { withhold: true, completeWithinMs: 1000, resolveWindowMs: 60_000 });
    say(`  ${withheld.state}; ${second.merchant} waits until completeBy, then asks the Agent Home to resolve`);
    const resolved = await until('resolution', 15_000, async () => (await buyer.inbox()).find((m) => m.contractId === withheld.contractId && m.contractFile));
    say(`  resolved by the Agent Home: ${second.merchant} got alice's completed signature, alice's mailbox got ${second.merchant}'s countersignature`);

    mkdirSync(out, { recursive: true });
    const caFile = join(out, 'ca.pem');
    writeFileSync(caFile, ca.certificate.pem);
    const targets = [
      { from: first.contractFile!, to: join(out, `contract-1-${best.merchant}.json`) },
      { from: resolved.contractFile!, to: join(out, `contract-2-${second.merchant}-resolved.json`) },
    ];
    const contracts: Verification[] = [];
    for (const t of targets) {
      copyFileSync(t.from, t.to);
      const v = verifyContractFile(t.to, caFile);
      contracts.push(v);
      say(`\nparley verify ${t.to} --ca ${caFile}\n${renderVerification(v)}`);
    }
    const evidenceFile = join(out, `evidence-${session.sn}.json`);
    writeFileSync(evidenceFile, JSON.stringify(await buildEvidence(home.state, session.sn, homeSelf), null, 2) + '\n');
    const evidence = verifyContractFile(evidenceFile, caFile);
    say(`\nparley home evidence ${session.sn} --out ${evidenceFile}; parley verify ${evidenceFile} --ca ${caFile}: ${evidence.valid ? 'valid' : 'NOT valid'} (${evidence.checks.length} checks)`);
    const report = join(out, `report-${session.sn}.html`);
    writeFileSync(report, reportHtml(reportData(files.session(session.sn), files.exchanges(), ca.certificate, parseRules(rules))));
    say(`parley buyer report ${session.sn} --rules rules.json --out ${report}: open it in a browser (it works offline)`);
    const result: DemoResult = { out, sn: session.sn, contracts, evidence, report, seconds: (Date.now() - started) / 1000 };
    if (opts.console) {
      // the arbiter's view of what just happened; everything stays up until it is closed
      const c = await startArbiterConsole(await conn('console'), { homeId: homeSelf.id, publicKey: homeSelf.publicKey, ...opts.console });
      kept = true;
      result.console = {
        url: c.url,
        close: async () => {
          await c.close();
          await teardown();
        },
      };
    }
    return result;
  } finally {
    if (!kept) await teardown();
  }
}

export function demoCommand(): Command {
  return commandGroup('demo', 'run the whole protocol locally: CA, Agent Home, three stores, a buyer, two contracts')
    .option('--out <dir>', 'where to write the contracts and the CA certificate', './parley-demo-out')
    .option('--json', 'print one JSON document (the transcript goes to stderr)')
    .option('--console', "then keep the demo's servers up and run the arbiter console on its data (prints its URL; Ctrl-C ends)")
    .option('--host <address>', 'with --console: address to listen on (default 127.0.0.1)')
    .option('--port <n>', 'with --console: port (default: a free one)')
    .action(
      action(async (flags: OutputOptions & ConsoleFlags & { out: string; console?: boolean }) => {
        const stopped = flags.console ? stopSignal() : undefined;
        const r = await runDemo(flags.out, (line) => (flags.json ? process.stderr : process.stdout).write(line + '\n'), flags.console ? { console: { host: flags.host, port: parsePort(flags.port) } } : {});
        const ok = r.contracts.every((c) => c.valid) && r.evidence.valid;
        const { console: cons, ...shown } = r;
        emit(flags, { ...shown, valid: ok }, (d) => `\ndemo ${d.valid ? 'finished' : 'FAILED'} in ${d.seconds.toFixed(1)} s; contracts, evidence and ca.pem in ${d.out}`);
        if (!ok) process.exitCode = 1;
        if (cons) {
          process.stderr.write(`\nthe arbiter console shows the demo's session, bids, exchanges and audit log; Ctrl-C stops it and the demo's servers\n${consoleLine(cons.url)}`);
          await stopped;
          await cons.close();
          process.exit(process.exitCode ?? 0);
        }
      }),
    );
}
