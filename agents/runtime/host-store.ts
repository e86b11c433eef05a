/**
 * Durable record of the agents a host has accepted, so that an acknowledged migration is
 * never lost and never run twice. Each arrival is keyed by (agent id, hop); the first
 * `accept` of a key wins atomically and every later one reports a duplicate. Work then
 * moves accepted → handled (the outgoing envelope is stored) → done, so a host killed at
 * any point resumes where it stopped without re-running its handler.
 *
 * Two implementations: JetStream KV (the Agent Home) and atomic files (stores, which have
 * no JetStream access once per-role permissions are on).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { KV, NatsConnection } from 'nats';
import { createFileAtomic, readJsonFile, writeJsonAtomic } from '../storage/atomic-file.js';
import type { Envelope } from './envelope.js';
import { createJson, listKeys } from '../storage/kv.js';

export type WorkPhase = 'accepted' | 'handled' | 'done';

export interface WorkState {
  phase: WorkPhase;
  /** what the handler decided (kept for the host's own records) */
  note?: string;
  /** the envelope to forward, once handled; absent when the agent stops here */
  outgoing?: Envelope | null;
}

export interface HostStore {
  accept(key: string, env: Envelope): Promise<'new' | 'duplicate'>;
  envelope(key: string): Promise<Envelope | undefined>;
  state(key: string): Promise<WorkState | undefined>;
  setState(key: string, state: WorkState): Promise<void>;
  /** keys whose work is not done */
  pending(): Promise<string[]>;
}

export function workKey(agentId: string, hop: number): string {
  return `${agentId}.${hop}`;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** JetStream KV bucket `parley_host_<hostId>`: `in.<key>` envelope, `st.<key>` state. */
export class JetStreamHostStore implements HostStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection, hostId: string, opts: { replicas?: number; ttlMs?: number } = {}): Promise<JetStreamHostStore> {
    const kv = await nc.jetstream().views.kv(`parley_host_${hostId.replace(/-/g, '_')}`, {
      history: 1,
      replicas: opts.replicas ?? 1,
      ttl: opts.ttlMs ?? 7 * 24 * 3600_000,
    });
    return new JetStreamHostStore(kv);
  }

  async accept(key: string, env: Envelope): Promise<'new' | 'duplicate'> {
    // one write: an arrival without a state record is in phase 'accepted'
    return (await createJson(this.kv, `in.${key}`, env)) ? 'new' : 'duplicate';
  }

  async envelope(key: string): Promise<Envelope | undefined> {
    const e = await this.kv.get(`in.${key}`);
    return e && e.operation === 'PUT' ? (JSON.parse(dec.decode(e.value)) as Envelope) : undefined;
  }

  async state(key: string): Promise<WorkState | undefined> {
    const e = await this.kv.get(`st.${key}`);
    // an arrival stored but killed before its state: it was accepted
    if (!e || e.operation !== 'PUT') return (await this.envelope(key)) ? { phase: 'accepted' } : undefined;
    return JSON.parse(dec.decode(e.value)) as WorkState;
  }

  async setState(key: string, state: WorkState): Promise<void> {
    await this.kv.put(`st.${key}`, enc.encode(JSON.stringify(state)));
  }

  async pending(): Promise<string[]> {
    const out: string[] = [];
    for (const k of await listKeys(this.kv, 'in.>')) {
      const key = k.slice(3);
      const st = await this.state(key);
      if (st && st.phase !== 'done') out.push(key);
    }
    return out;
  }
}

/** Files under `dir`: `<key>.in.json` (created once, atomically) and `<key>.st.json`. */
export class FileHostStore implements HostStore {
  constructor(private readonly dir: string) {}

  async accept(key: string, env: Envelope): Promise<'new' | 'duplicate'> {
    return createFileAtomic(join(this.dir, `${key}.in.json`), JSON.stringify(env)) ? 'new' : 'duplicate';
  }

  async envelope(key: string): Promise<Envelope | undefined> {
    return readJsonFile<Envelope>(join(this.dir, `${key}.in.json`));
  }

  async state(key: string): Promise<WorkState | undefined> {
    const st = readJsonFile<WorkState>(join(this.dir, `${key}.st.json`));
    if (st) return st;
    return (await this.envelope(key)) ? { phase: 'accepted' } : undefined;
  }

  async setState(key: string, state: WorkState): Promise<void> {
    writeJsonAtomic(join(this.dir, `${key}.st.json`), state);
  }

  async pending(): Promise<string[]> {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: string[] = [];
    for (const n of names) {
      if (!n.endsWith('.in.json')) continue;
      const key = n.slice(0, -'.in.json'.length);
      const st = await this.state(key);
      if (st && st.phase !== 'done') out.push(key);
    }
    return out;
  }
}
