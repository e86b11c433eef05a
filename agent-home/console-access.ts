/**
 * What the `console` broker party may do: read the Agent Home's records through the
 * JetStream API, and nothing else. It looks up the stream behind each bucket, reads single
 * entries (direct get), reads audit records by sequence, and watches (an ordered consumer:
 * creating one and answering its flow control is all it publishes). It cannot write a KV
 * entry ($KV.>), publish to any Parley subject, touch the escrow, replies or mailbox
 * streams, or delete or change a stream. `parley home init` adds it (id `console`).
 */
import type { Permissions } from './broker-config.js';

/** the party id `parley home init` gives the console */
export const CONSOLE_PARTY = 'console';

/** the buckets the arbiter console reads (never parley_escrow, parley_replies) */
export const CONSOLE_BUCKETS = ['parley_sessions', 'parley_negotiations', 'parley_agreements', 'parley_exchanges', 'parley_directory'] as const;
/** the buckets and streams it watches for live updates */
export const CONSOLE_WATCHED = ['parley_sessions', 'parley_negotiations', 'parley_exchanges', 'parley_directory'] as const;
export const CONSOLE_AUDIT_STREAM = 'PARLEY_AUDIT';

export function consolePermissions(inbox: string): Permissions {
  const streams = CONSOLE_BUCKETS.map((b) => `KV_${b}`);
  const watched = [...CONSOLE_WATCHED.map((b) => `KV_${b}`), CONSOLE_AUDIT_STREAM];
  return {
    publish: [
      '$JS.API.INFO',
      ...[...streams, CONSOLE_AUDIT_STREAM].map((s) => `$JS.API.STREAM.INFO.${s}`),
      ...streams.map((s) => `$JS.API.DIRECT.GET.${s}.>`),
      `$JS.API.STREAM.MSG.GET.${CONSOLE_AUDIT_STREAM}`,
      ...watched.flatMap((s) => [`$JS.API.CONSUMER.CREATE.${s}`, `$JS.API.CONSUMER.CREATE.${s}.>`]),
      '$JS.FC.>',
    ],
    subscribe: [inbox],
    deny: ['$KV.>', '$O.>', '$SYS.>', 'parley.>'],
  };
}
