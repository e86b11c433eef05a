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
import { createFileAtomicAsync, readJsonFile, writeJsonAtomicAsync } from '../storage/atomic-file.js';
import type { Envelope } from './envelope.js';
import { listKeys } from '../storage/kv.js';
import { KvWriter } from '../storage/kv-writer.js';

export type WorkPhase = 'accepted' | 'handled' | 'done';

export interface WorkState {
  phase: WorkPhase;
  /** what the handler decided (kept for the host's own records) */
  note?: string;
  /** the envelope to forward, once handled; absent when the agent stops here */
  outgoing?: Envelope | null;
}

export interface HostStore {
  /**
   * Stores the arrival under `key` unless one is already there. `raw` is the envelope's JSON
   * exactly as received (already parsed and validated into `env`), stored as it is rather
   * than serialised again.
   */
  accept(key: string, env: Envelope, raw?: Uint8Array): Promise<'new' | 'duplicate'>;
  envelope(key: string): Promise<Envelope | undefined>;
  /** The work state of `key`; undefined when nothing arrived under it. */
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
  private constructor(
    private readonly kv: KV,
    /** writes (on the migration hot path); reads go through `kv` */
    private readonly writer: KvWriter,
  ) {}

  static async open(nc: NatsConnection, hostId: string, opts: { replicas?: number; ttlMs?: number } = {}): Promise<JetStreamHostStore> {
    const bucket = `parley_host_${hostId.replace(/-/g, '_')}`;
    const kv = await nc.jetstream().views.kv(bucket, {
      history: 1,
      replicas: opts.replicas ?? 1,
      ttl: opts.ttlMs ?? 7 * 24 * 3600_000,
    });
    return new JetStreamHostStore(kv, new KvWriter(nc, bucket));
  }

  async accept(key: string, env: Envelope, raw?: Uint8Array): Promise<'new' | 'duplicate'> {
    // one write: an arrival without a state record is in phase 'accepted'
    // records are never deleted, so "never written" is "absent"
    return (await this.writer.create(`in.${key}`, raw ?? enc.encode(JSON.stringify(env)))) ? 'new' : 'duplicate';
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
    await this.writer.put(`st.${key}`, enc.encode(JSON.stringify(state)));
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

  async accept(key: string, env: Envelope, raw?: Uint8Array): Promise<'new' | 'duplicate'> {
    return (await createFileAtomicAsync(join(this.dir, `${key}.in.json`), raw ?? JSON.stringify(env))) ? 'new' : 'duplicate';
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
    await writeJsonAtomicAsync(join(this.dir, `${key}.st.json`), state);
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
