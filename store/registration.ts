/**
 * A store announces itself to its Agent Home's merchant directory when it starts
 * (`register`, signed with its merchant certificate: the categories it sells and its name),
 * so the Agent Home puts it on the itineraries of matching Invite Agents. The Agent Home
 * may start later than the store: the request is retried with backoff until it succeeds.
 */
import { call } from '../agents/transport/rpc.js';
import { REGISTER_TYPE, RegisterReplySchema } from '../protocol/directory.js';
import { parleyError } from '../protocol/errors.js';
import { signRequest } from '../protocol/signed-request.js';
import { subjects } from '../protocol/subjects.js';
import { backoffDelay } from '../agents/transport/retry.js';
import { codeOf, sleep, type StoreContext } from './context.js';

const REGISTER_TIMEOUT_MS = 5000;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 10_000;

/** Resolves true once registered, false if the daemon stopped first. */
export async function registerWithHome(ctx: StoreContext): Promise<boolean> {
  const { config, self } = ctx;
  for (let attempt = 1; !ctx.stopping.aborted; attempt++) {
    try {
      const req = signRequest(REGISTER_TYPE, { categories: config.categories, name: config.name }, config.home, self);
      const reply = await call(ctx.nc, subjects.home(config.home, 'register'), req, RegisterReplySchema, REGISTER_TIMEOUT_MS);
      if (reply.merchant !== self.id) throw parleyError('ERR_FORBIDDEN', `the Agent Home registered ${reply.merchant}, not ${self.id}`);
      ctx.log(`registered with Agent Home ${config.home} for ${config.categories.join(', ')}`);
      return true;
    } catch (err) {
      // the first failure and then every tenth, so a long wait for the Agent Home stays readable
      if (attempt === 1 || attempt % 10 === 0) ctx.log(`not registered with ${config.home} yet (${codeOf(err)}: ${(err as Error).message}); retrying`);
      await sleep(backoffDelay(attempt, FIRST_RETRY_MS, MAX_RETRY_MS), ctx.stopping);
    }
  }
  return false;
}
