/**
 * Child process of bench/console.ts: the arbiter console in a process of its own, as
 * `parley home console` runs beside an Agent Home, with one browser page's worth of client.
 *
 *   node --import tsx bench/console-watcher.ts NATS_URL HOME_ID
 *
 * Reads one command a line on stdin and answers each with one JSON line on stdout:
 *   attach  the console starts on its own NATS connection (startArbiterConsole, the code of
 *           the real command); then a client opens the sessions list, picks the newest
 *           session and keeps `/api/events` open; answered once the stream says `connected`
 *           and the session view has been fetched once
 *   detach  the client stops, the console closes its server and its connection; answered
 *           with what the client saw (change events, fetches) and the CPU this process used
 *   quit    exits
 * The client follows the running session, as a page left open on it would: a change to a
 * session record it is not showing switches it to that session. Each change to the session
 * it shows (or to any exchange: the page redraws on those too) schedules a re-fetch of
 * `/api/session?sn=…` 150 ms later, at most one in flight. Unlike the page's debounce, which
 * waits for 150 ms without a change, it never waits longer than 150 ms: under a stream of
 * changes the page would fetch less often than this, never more.
 */
import { createInterface } from 'node:readline';
import type { NatsConnection } from 'nats';
import { connectNats } from '../agents/transport/connect.js';
import { subjectPatterns } from '../protocol/subjects.js';
import { startArbiterConsole } from '../agent-home/console-command.js';
import { CONSOLE_PARTY } from '../agent-home/console-access.js';

const DELAY_MS = 150;

export interface WatcherStats {
  /** `change` events read from /api/events */
  events: number;
  /** /api/session fetches answered 200 */
  fetches: number;
  /** their median wall time in ms, and the median body size */
  fetchMedianMs: number;
  bodyMedianBytes: number;
  /** CPU ms of this process (console and client) while attached, and the wall ms attached */
  cpuMs: number;
  wallMs: number;
  /** sessions the client followed */
  sessionsFollowed: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : 0;
};

interface SessionsAnswer {
  sessions: Array<{ sn: string; started: string }>;
}

/** One page open on the running session: the event stream, and the view re-fetched on its changes. */
function openPage(origin: string, token: string) {
  const headers = { Authorization: `Bearer ${token}` };
  const stop = new AbortController();
  const fetchTimes: number[] = [];
  const bodies: number[] = [];
  const followed = new Set<string>();
  let events = 0;
  let sn = '';
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let again = false;
  let failure: Error | undefined;

  const fetchView = async () => {
    if (!sn) return;
    const t0 = performance.now();
    const res = await fetch(`${origin}/api/session?sn=${encodeURIComponent(sn)}`, { headers, signal: stop.signal });
    const body = await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`/api/session answered ${res.status}`);
    fetchTimes.push(performance.now() - t0);
    bodies.push(body.byteLength);
  };
  const refetch = () => {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = fetchView()
      .catch((e: unknown) => {
        if (!stop.signal.aborted) failure ??= e as Error;
      })
      .finally(() => {
        inFlight = undefined;
        if (again && !stop.signal.aborted) {
          again = false;
          schedule();
        }
      });
  };
  const schedule = () => {
    if (timer || stop.signal.aborted) return;
    timer = setTimeout(() => {
      timer = undefined;
      refetch();
    }, DELAY_MS);
  };
  const onChange = (c: { topic: string; key: string }) => {
    events++;
    if (c.topic === 'parley_sessions' && c.key !== sn) {
      sn = c.key;
      followed.add(sn);
    }
    if (c.topic === 'parley_exchanges' || c.key.startsWith(sn)) schedule();
  };

  const ready = (async () => {
    const list = (await (await fetch(`${origin}/api/sessions`, { headers, signal: stop.signal })).json()) as SessionsAnswer;
    const newest = [...list.sessions].sort((a, b) => b.started.localeCompare(a.started))[0];
    if (newest) {
      sn = newest.sn;
      followed.add(sn);
    }
    const res = await fetch(`${origin}/api/events`, { headers, signal: stop.signal });
    if (res.status !== 200 || !res.body) throw new Error(`/api/events answered ${res.status}`);
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let connected!: () => void;
    const isConnected = new Promise<void>((r) => (connected = r));
    // the stream is read for as long as the page is open
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += dec.decode(value, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          if (block.includes(': connected')) connected();
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (block.startsWith('event: change') && data) onChange(JSON.parse(data.slice(6)) as { topic: string; key: string });
        }
      }
    })().catch((e: unknown) => {
      if (!stop.signal.aborted) failure ??= e as Error;
    });
    await isConnected;
    await fetchView();
  })();

  return {
    ready,
    async close(): Promise<Omit<WatcherStats, 'cpuMs' | 'wallMs'>> {
      stop.abort();
      clearTimeout(timer);
      await inFlight;
      if (failure) throw failure;
      return { events, fetches: fetchTimes.length, fetchMedianMs: median(fetchTimes), bodyMedianBytes: median(bodies), sessionsFollowed: followed.size };
    },
  };
}

async function main(): Promise<void> {
  const [url, homeId] = process.argv.slice(2);
  if (!url || !homeId) throw new Error('usage: console-watcher.ts NATS_URL HOME_ID');
  let attached: { nc: NatsConnection; close(): Promise<void>; page: ReturnType<typeof openPage>; cpu: NodeJS.CpuUsage; t0: number } | undefined;
  const answer = (doc: unknown) => process.stdout.write(JSON.stringify(doc) + '\n');
  answer({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    try {
      if (line === 'attach' && !attached) {
        const cpu = process.cpuUsage();
        const t0 = performance.now();
        const nc = await connectNats({ servers: url, name: 'parley-console', inboxPrefix: subjectPatterns.inboxPrefix(CONSOLE_PARTY) });
        const c = await startArbiterConsole(nc, { homeId });
        const token = new URL(c.url).searchParams.get('token')!;
        const page = openPage(c.origin, token);
        attached = { nc, close: c.close, page, cpu, t0 };
        await page.ready;
        answer({ attached: true });
      } else if (line === 'detach' && attached) {
        const a = attached;
        attached = undefined;
        const seen = await a.page.close();
        await a.close();
        await a.nc.close();
        const cpu = process.cpuUsage(a.cpu);
        answer({ detached: { ...seen, cpuMs: (cpu.user + cpu.system) / 1000, wallMs: performance.now() - a.t0 } satisfies WatcherStats });
      } else if (line === 'quit') {
        break;
      } else {
        answer({ error: `unexpected command ${JSON.stringify(line)}` });
      }
    } catch (e) {
      answer({ error: (e as Error).message });
    }
  }
  process.exit(0);
}

await main();
