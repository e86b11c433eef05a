/**
 * A daemon stops on SIGTERM even when its broker is gone: the connection that cannot drain
 * is closed and the process exits (it used to keep reconnecting for ever).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startNatsServer } from '../../agents/transport/nats-server.js';
import { testPki } from '../helpers/parties.js';
import { tempDir } from '../helpers/paths.js';
import { spawnParley } from '../helpers/cli.js';

const test = suite('daemon stop');
const tmp = tempDir('parley-stop-');
test.after(() => tmp.remove());

test('parley home start exits on SIGTERM after its nats-server died', async () => {
  const pki = await testPki();
  const self = await pki.party('home', 'agent-home');
  const dir = join(tmp.path, 'agent-home');
  mkdirSync(dir, { recursive: true });
  pki.writeFiles(dir, self); // ca.pem, home.pem, home.key: where `home start` looks
  const srv = await startNatsServer();
  const d = spawnParley(['home', 'start', '--json'], { PARLEY_HOME: tmp.path, PARLEY_NATS_URL: srv.url });
  try {
    assert.is((await d.firstJson<{ status: string }>()).status, 'running');
    await srv.stop();
    await new Promise((r) => setTimeout(r, 500));
    const exited = new Promise<boolean>((r) => d.child.once('exit', () => r(true)));
    d.child.kill('SIGTERM');
    assert.ok(await Promise.race([exited, new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]), 'exited within 10 s');
  } finally {
    d.child.kill('SIGKILL');
  }
});

test.run();
