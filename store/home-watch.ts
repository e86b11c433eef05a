/**
 * A running store keeps an eye on its Agent Home and its broker, for the people watching it:
 * it asks the Agent Home for its key every `everyMs` (a cheap request every Agent Home
 * answers), backing off to `maxMs` while it gets no answer, and says once when the Agent
 * Home stops answering and once when it is back; the same for the NATS connection. Nothing
 * depends on it: the store's own requests retry by themselves.
 */
import type { NatsConnection } from 'nats';
import { exchange } from '../agents/transport/rpc.js';
import { subjects } from '../protocol/subjects.js';

export interface HomeWatch {
  stop(): void;
}

export function watchHome(nc: NatsConnection, home: string, say: (line: string) => void, everyMs = 5000, maxMs = 60_000): HomeWatch {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let down = false;
  let wait = everyMs;
  const tick = async () => {
    if (stopped) return;
    let ok = true;
    try {
      await exchange(nc, subjects.home(home, 'key'), new TextEncoder().encode('{}'), Math.min(5000, everyMs));
    } catch {
      ok = false;
    }
    if (stopped) return;
    if (!ok) {
      wait = down ? Math.min(maxMs, wait * 2) : everyMs;
      if (!down) say(`Agent Home ${home} is not answering; the store keeps its state and retries (checking again with backoff up to ${Math.round(maxMs / 1000)} s)`);
      down = true;
    } else {
      if (down) say(`Agent Home ${home} is back`);
      down = false;
      wait = everyMs;
    }
    timer = setTimeout(() => void tick(), wait);
  };
  timer = setTimeout(() => void tick(), everyMs);
  void (async () => {
    for await (const s of nc.status()) {
      if (stopped) break;
      if (s.type === 'disconnect') say(`lost the connection to NATS (${String(s.data)}); reconnecting`);
      else if (s.type === 'reconnect') say(`connected to NATS again (${String(s.data)})`);
    }
  })().catch(() => undefined);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
