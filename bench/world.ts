/**
 * A whole in-process Parley world for benchmarks: the test helpers' `worldSuite` (real
 * nats-server, CA, Agent Home, stores from examples/, buyers) driven without uvu: its
 * before-hooks run on open, its after-hooks (in reverse) on close.
 */
import { worldSuite, type World, type WorldOptions } from '../test/helpers/world.js';
import type { SuiteHooks } from '../test/helpers/nats.js';

type Hook = () => Promise<void> | void;

export async function openWorld(opts: WorldOptions = {}): Promise<{ world: World; close(): Promise<void> }> {
  const before: Hook[] = [];
  const after: Hook[] = [];
  const hooks: SuiteHooks = { before: (fn) => void before.push(fn), after: (fn) => void after.push(fn) };
  const world = worldSuite(hooks, opts);
  const close = async () => {
    for (const fn of after.reverse()) await fn();
  };
  try {
    for (const fn of before) await fn();
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
  return { world, close };
}
