/**
 * Migration hop benchmark: one hop (the receiving host parses, verifies and durably accepts
 * the agent in JetStream, then acknowledges) against a plain NATS request/reply round trip
 * on the same server in the same run, and the signature work of a hop measured alone
 * (certificate checks, header and visit-log signatures).
 * Target: hop ≤ 2 × round trip + signature work.
 */
import type { NatsConnection } from 'nats';
import { startNatsServer } from '../agents/transport/nats-server.js';
import { connectNats } from '../agents/transport/connect.js';
import { AgentHost, AckSchema } from '../agents/runtime/host.js';
import { JetStreamHostStore } from '../agents/runtime/host-store.js';
import { appendVisit, createAgent, verifyAgent, type Envelope } from '../agents/runtime/envelope.js';
import { caTrust, type Self } from '../agents/runtime/trust.js';
import { createCa, issueCertificate, type CertificateAuthority } from '../crypto/x509/index.js';
import { generateIdentityKey } from '../crypto/ed25519.js';
import type { PartyRole } from '../crypto/x509/profile.js';
import { subjects } from '../protocol/subjects.js';
import { decodeReply, encodeJson } from '../protocol/wire.js';
import { measure, printTargets, table, target, writeResults } from './lib.js';

async function party(ca: CertificateAuthority, id: string, role: PartyRole): Promise<Self> {
  const k = generateIdentityKey();
  const cert = await issueCertificate(ca, { role, id, publicKey: k.publicKey });
  return { id, role, publicKey: k.publicKey, secretKey: k.secretKey, certPem: cert.pem };
}

export async function run(): Promise<void> {
  const server = await startNatsServer();
  const conns: NatsConnection[] = [];
  try {
    const ca = await createCa({ id: 'bench-ca' });
    const trust = caTrust(ca.certificate);
    const home = await party(ca, 'home', 'agent-home');
    const first = await party(ca, 'm1', 'merchant');
    const target0 = await party(ca, 'm2', 'merchant');
    const hostConn = await connectNats({ servers: server.url, name: 'host' });
    const client = await connectNats({ servers: server.url, name: 'sender' });
    conns.push(hostConn, client);

    const host = new AgentHost({ nc: hostConn, self: target0, trust, store: await JetStreamHostStore.open(hostConn, 'm2') });
    // the handler is not part of a hop: measure only verify + durable accept + ack
    host.register('probe', { issuerRoles: ['agent-home'], visit: async () => ({ note: 'ok', stay: true }) });
    await host.start();
    hostConn.subscribe('bench.echo', { callback: (_e, m) => m.respond(m.data) });
    await hostConn.flush();

    // a realistic mid-itinerary agent: one visit record already in its log, ~2 KB payload
    const payload = { request: { item: 'laptop', quantity: 3, attributes: { ram: '32GB', screen: '14in' } }, pad: 'x'.repeat(1500) };
    const make = (): Envelope => {
      const env = createAgent(home, { kind: 'probe', itinerary: [{ host: 'm1', timeoutMs: 2000 }, { host: 'm2', timeoutMs: 2000 }], payload, ttlMs: 600_000 });
      return { ...appendVisit(env, first, { event: 'visited', target: 'm1', hop: 0, note: 'interested' }), hop: 1 };
    };
    const pool = Array.from({ length: 3000 }, make);
    const bytes = pool.map((e) => encodeJson(e));
    const size = bytes[0]!.length;
    let i = 0;
    const echoData = bytes[0]!;

    const rtt = await measure(() => client.request('bench.echo', echoData, { timeout: 2000 }), { minRuns: 300, minMs: 1500 });
    // each hop is timed alone: the host's work after the ack (handler, state write) is
    // allowed to finish before the next hop starts
    const hop = await measure(async () => {
      const r = await client.request(subjects.hostArrive('m2'), bytes[i++ % bytes.length]!, { timeout: 2000 });
      decodeReply(AckSchema, r.data);
    }, { minRuns: 300, minMs: 1500, maxRuns: pool.length - 10, warmup: 5, between: () => host.idle() });
    let j = 0;
    const sig = await measure(() => verifyAgent(pool[j++ % pool.length]!, trust, ['agent-home']), { minRuns: 300, minMs: 1000 });
    const rttAgain = await measure(() => client.request('bench.echo', echoData, { timeout: 2000 }), { minRuns: 300, minMs: 1000 });
    await host.stop();

    const rttMs = Math.min(rtt.medianMs, rttAgain.medianMs);
    const goalMs = 2 * rttMs + sig.medianMs;
    const rows = [
      ['measure', 'median ms', 'p95 ms', 'runs'],
      [`NATS request/reply (${size} B)`, rttMs.toFixed(3), rtt.p95Ms.toFixed(3), String(rtt.runs)],
      ['signature work of a hop', sig.medianMs.toFixed(3), sig.p95Ms.toFixed(3), String(sig.runs)],
      ['migration hop (verify, JetStream accept, ack)', hop.medianMs.toFixed(3), hop.p95Ms.toFixed(3), String(hop.runs)],
    ];
    console.log(table(rows));
    const targets = [target('hop', `${hop.medianMs.toFixed(3)} ms`, `<= ${goalMs.toFixed(3)} ms = 2 x ${rttMs.toFixed(3)} + ${sig.medianMs.toFixed(3)}`, hop.medianMs <= goalMs)];
    const file = writeResults('hop', { messageBytes: size, rtt, rttAgain, signatureWork: sig, hop }, targets);
    console.log(`results: ${file}`);
    printTargets(targets);
  } finally {
    await Promise.allSettled(conns.map((c) => c.close()));
    await server.stop();
  }
}
