import { Type, type Static } from '@sinclair/typebox';

/** `netboot.tftp` section. Every key has a default. */
export const TftpConfigSchema = Type.Object(
  {
    /** Server port (69 in production; tests use 0 = ephemeral). */
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 69 }),
    /** Largest blksize granted (RFC 2348); the default fits a 1500-byte MTU. */
    blksizeMax: Type.Integer({ minimum: 8, maximum: 65464, default: 1468 }),
  },
  { default: {}, additionalProperties: false },
);
export type TftpConfig = Static<typeof TftpConfigSchema>;
