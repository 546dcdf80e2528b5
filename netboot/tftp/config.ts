import { Type, type Static } from '@sinclair/typebox';

/**
 * `netboot.tftp` section. Every key has a default, so `netboot.tftp` may be omitted.
 *
 * Retransmission: picluster keeps its own short timer (`retransmitMs`) instead of the
 * RFC 2349 `timeout` a client proposes (1–255 s would stall a boot on every loss). The
 * `timeout` option is still acknowledged, and when it is *shorter* than `retransmitMs`
 * it wins. After `maxRetries` consecutive timeouts without progress a transfer ends
 * with outcome `timeout` (defaults: 1000 ms × 5, like tftpd-hpa's 1 s / ~5 tries).
 */
export const TftpConfigSchema = Type.Object(
  {
    /** Server port (69 in production; tests use 0 = ephemeral). */
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 69 }),
    /** Largest blksize granted (RFC 2348); the default fits a 1500-byte MTU. */
    blksizeMax: Type.Integer({ minimum: 8, maximum: 65464, default: 1468 }),
    /** Largest windowsize granted (RFC 7440). Capped at 32767 so 16-bit ACKs stay unambiguous. */
    windowsizeMax: Type.Integer({ minimum: 1, maximum: 32767, default: 64 }),
    /** Retransmit timer for an unacknowledged OACK/DATA window. */
    retransmitMs: Type.Integer({ minimum: 1, maximum: 60_000, default: 1000 }),
    /** Consecutive timeouts without progress before a transfer is abandoned. */
    maxRetries: Type.Integer({ minimum: 0, maximum: 100, default: 5 }),
    /**
     * Retransmits of the first packet (OACK or DATA 1) to a client that has not yet
     * acknowledged anything; then the transfer ends silently (outcome `no-ack`). A forged
     * RRQ thus makes us send at most 1 + this many packets to the forged source.
     */
    maxRetriesBeforeAck: Type.Integer({ minimum: 0, maximum: 100, default: 2 }),
    /** Concurrent transfers; requests beyond this get ERROR 0 "server busy". */
    maxTransfers: Type.Integer({ minimum: 1, maximum: 10_000, default: 512 }),
    /** Concurrent transfers per client IP address; beyond: ERROR 0 "too many transfers from this client". */
    maxTransfersPerClient: Type.Integer({ minimum: 1, maximum: 10_000, default: 8 }),
    /** Bytes of file content kept in the shared read cache (least recently used evicted). */
    cacheMaxBytes: Type.Integer({ minimum: 0, default: 1024 * 1024 * 1024 }),
    /**
     * Who runs admitted transfers: `native`, the C data path (epoll threads answering ACKs
     * without a trip through JS; built by `npm ci` from binding.gyp), or `js`. Without the
     * built addon `native` falls back to `js` (logged once at start).
     */
    engine: Type.Union([Type.Literal('native'), Type.Literal('js')], { default: 'native' }),
    /**
     * Threads running transfers: the native engine's epoll threads (at least 1), or the JS
     * engine's transfer worker threads (0 = every transfer on the main thread). Sending is mostly
     * kernel work, so with many clients at once more threads sending is more throughput.
     */
    workers: Type.Integer({ minimum: 0, maximum: 64, default: 2 }),
    /** Files at least this big are sent from a worker; smaller ones are not worth the hop. */
    workerMinBytes: Type.Integer({ minimum: 0, default: 256 * 1024 }),
  },
  { default: {}, additionalProperties: false },
);
export type TftpConfig = Static<typeof TftpConfigSchema>;
