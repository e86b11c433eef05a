/**
 * Part of cli/kit. How the person typed the program, for the commands we suggest to them:
 * `npx parley` when npm runs it (npx sets npm_command=exec), `parley` otherwise (after
 * `npm link` or a global install).
 */
export function parleyCommand(): string {
  return process.env.npm_command === 'exec' ? 'npx parley' : 'parley';
}
