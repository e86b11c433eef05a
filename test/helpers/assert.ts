/** Assertions shared by the suites: errors are checked by their stable code, not their text. */
import * as assert from 'uvu/assert';

function describe(e: unknown): string {
  if (e instanceof Error && 'code' in e) return `${String(e.code)}: ${e.message}`;
  return String(e);
}

/** Asserts that `fn` throws an error whose `code` is `code`. */
export function throwsCode(fn: () => unknown, code: string, note?: string): void {
  try {
    fn();
  } catch (e) {
    const got = (e as { code?: unknown })?.code;
    assert.is(got, code, `${note ?? 'error code'}: expected ${code}, got ${describe(e)}`);
    return;
  }
  assert.unreachable(`${note ?? 'call'}: expected ${code}, but nothing was thrown`);
}

/** Async variant of `throwsCode`. */
export async function rejectsCode(fn: () => Promise<unknown>, code: string, note?: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const got = (e as { code?: unknown })?.code;
    assert.is(got, code, `${note ?? 'error code'}: expected ${code}, got ${describe(e)}`);
    return;
  }
  assert.unreachable(`${note ?? 'call'}: expected ${code}, but nothing was thrown`);
}

/** Flips one bit of a copy of `b`. */
export function flipBit(b: Uint8Array, bit = 0): Uint8Array {
  const c = new Uint8Array(b);
  const i = Math.floor(bit / 8) % c.length;
  c[i] = (c[i] ?? 0) ^ (1 << (bit % 8));
  return c;
}
