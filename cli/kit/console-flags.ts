/**
 * The flags every console command takes (`parley home console`, `parley store console`,
 * `parley demo --console`): where it listens.
 */
import type { Command } from 'commander';
import { UsageError } from './output.js';

export interface ConsoleFlags {
  host?: string;
  port?: string;
}

export function parsePort(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError('--port must be 0 to 65535');
  return n;
}

/** --host, --port */
export function withConsoleOptions(cmd: Command): Command {
  return cmd.option('--host <address>', 'address to listen on (default 127.0.0.1; anything else exposes the console to that network)').option('--port <n>', 'port (default: a free one)');
}

/** The one line a console prints (on stderr): its URL, token included, printed nowhere else. */
export function consoleLine(url: string): string {
  return `console: ${url}\n`;
}
