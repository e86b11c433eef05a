/**
 * Daemon lifecycle shared by `parley home start` and `parley store start`: the stop signal
 * is listened for before anything starts, and stopping is graceful but bounded — if the
 * broker is gone, draining fails or would wait for a reconnection forever, so the
 * connection is closed and the process exits anyway.
 */
import type { NatsConnection } from 'nats';

/** Resolves on the first SIGINT or SIGTERM. Call it before starting anything. */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/**
 * Runs `stop` then drains `nc`; gives up after `graceMs`. With `label` ("store shop-a") it
 * tells people on stderr: "stopping …", then "… stopped, state saved" (a clean stop), so a
 * daemon never ends in silence. Either way the connection is then
 * closed and the process exits: a connection that could not drain (the broker is gone) would
 * go on reconnecting, and background timers would keep a stopped daemon alive.
 */
export async function shutdown(stop: () => Promise<void>, nc: NatsConnection | undefined, graceMs = 5000, label?: string): Promise<void> {
  if (label) process.stderr.write(`stopping ${label}: finishing the work in progress…\n`);
  const graceful = (async () => {
    await stop();
    await nc?.drain();
  })().then(
    () => true,
    () => true,
  );
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)));
  const clean = await Promise.race([graceful, timedOut]);
  clearTimeout(timer);
  if (!clean) process.stderr.write(`parley: could not stop gracefully within ${graceMs} ms (is NATS reachable?); closing\n`);
  else if (label) process.stderr.write(`${label} stopped, state saved (work not finished is taken up again at the next start)\n`);
  if (nc && !nc.isClosed()) await Promise.race([nc.close().catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
  process.exit(process.exitCode ?? 0);
}
