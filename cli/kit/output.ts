/**
 * Part of cli/kit, the command toolkit every role's command group uses (it imports only
 * crypto/ and protocol/, never a role).
 *
 * How every command talks: data on stdout (for people, or exactly one JSON document with
 * --json), people-facing messages on stderr, and documented exit codes.
 */
import { Command, type CommanderError } from 'commander';
import { ParleyError } from '../../crypto/errors.js';

export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, VERIFICATION_FAILED: 3 } as const;

export interface OutputOptions {
  json?: boolean;
}

/** Prints `data` as one JSON document with --json, otherwise what `human` renders. */
export function emit<T>(opts: OutputOptions, data: T, human: (data: T) => string): void {
  if (opts.json) process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else {
    const text = human(data);
    if (text) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }
}

/** Live progress for people: always on stderr (stdout stays one JSON document under --json). */
export function progress(message: string): void {
  process.stderr.write(message + '\n');
}

/** Notes for people: stderr, silent under --json. */
export function note(opts: OutputOptions, message: string): void {
  if (!opts.json) process.stderr.write(message + '\n');
}

export class UsageError extends ParleyError {
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}

/** Renders an error the documented way and returns the exit code to use. */
export function reportError(err: unknown, opts: OutputOptions): number {
  const code = err instanceof ParleyError ? err.code : 'ERR_INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  if (opts.json) process.stdout.write(JSON.stringify({ error: { code, message } }) + '\n');
  else {
    process.stderr.write(`parley: ${message} (${code})\n`);
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
    if (cause) process.stderr.write(`  cause: ${cause}\n`);
    if (code === 'ERR_INTERNAL' && err instanceof Error && process.env.PARLEY_DEBUG) process.stderr.write(`${err.stack}\n`);
  }
  if (err instanceof UsageError) return EXIT.USAGE;
  return EXIT.FAILURE;
}

/** Wraps a command action: errors are reported once, with the right exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      // commander passes (…positionals, options, command); options carry --json
      const opts = (args.find((a) => a && typeof a === 'object' && !Array.isArray(a) && 'json' in (a as object)) ?? {}) as OutputOptions;
      process.exitCode = reportError(err, opts);
    }
  };
}

/**
 * Commander's own usage errors (missing option, unknown flag) exit 2, and under --json also
 * print the one JSON error document. `addCommand` does not pass the root program's
 * settings down, so every group is made with `commandGroup`.
 */
export function onUsageExit(err: CommanderError): never {
  if (err.exitCode === 0) process.exit(0);
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify({ error: { code: 'ERR_USAGE', message: err.message.replace(/^error: /, '') } }) + '\n');
  }
  process.exit(EXIT.USAGE);
}

/** A command (group) with Parley's usage-error handling. */
export function commandGroup(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .exitOverride(onUsageExit);
}
