/**
 * The nats-server Parley starts listens for clients only: no HTTP monitoring port (it would
 * list every connection, its name, address and subscriptions) unless asked, and then on
 * 127.0.0.1. Listening sockets are read from /proc: the process's socket inodes matched
 * against the kernel's table of TCP sockets in LISTEN state.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { startNatsServer } from '../../agents/transport/nats-server.js';
import { ensureEmbeddedServer, stopEmbeddedServer } from '../../agents/transport/embedded.js';
import { tempDir } from '../helpers/paths.js';

const test = suite('nats-server ports');

/** `address:port` of every TCP socket process `pid` listens on. */
function listening(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const out: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    const lines = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== '0A' || !inodes.has(f[9]!)) continue; // 0A: LISTEN
      const [hexAddr, hexPort] = f[1]!.split(':');
      const addr = hexAddr!.length === 8 ? hexAddr!.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.') : hexAddr!;
      out.push(`${addr}:${parseInt(hexPort!, 16)}`);
    }
  }
  return out.sort();
}

test('by default one listening port: the client port, on 127.0.0.1', async () => {
  const srv = await startNatsServer();
  try {
    assert.is(srv.monitorUrl, undefined);
    assert.equal(listening(srv.pid), [`127.0.0.1:${new URL(srv.url).port}`]);
  } finally {
    await srv.stop();
  }
});

test('with monitor: the HTTP monitor too, on 127.0.0.1 only', async () => {
  const srv = await startNatsServer({ monitor: true });
  try {
    const mon = new URL(srv.monitorUrl!);
    assert.is(mon.hostname, '127.0.0.1');
    assert.equal(listening(srv.pid), [`127.0.0.1:${new URL(srv.url).port}`, `127.0.0.1:${mon.port}`].sort());
    assert.ok((await fetch(`${srv.monitorUrl}/healthz`)).ok);
  } finally {
    await srv.stop();
  }
});

test('the embedded server (detached, logging to a file) is found ready and healthy without a monitor', async () => {
  const tmp = tempDir('parley-embedded-');
  try {
    const first = await ensureEmbeddedServer(tmp.path);
    assert.is(first.reused, false);
    assert.is(first.monitorUrl, undefined);
    assert.equal(listening(first.pid), [`127.0.0.1:${new URL(first.url).port}`]);
    const again = await ensureEmbeddedServer(tmp.path);
    assert.is(again.reused, true, 'a running server is recognised without the monitor');
    assert.is(again.pid, first.pid);
  } finally {
    await stopEmbeddedServer(tmp.path);
    tmp.remove();
  }
});

test.run();
