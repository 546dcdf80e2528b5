import { Type, type Static } from '@sinclair/typebox';

/**
 * `netboot.dhcp` section. Every key has a default so the minimal config
 * `netboot: { interface, mode, tftpRoot, clients }` is enough.
 */
export const DhcpConfigSchema = Type.Object(
  {
    /** Server port (67 in production; tests bind unprivileged ports, 0 = ephemeral). */
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 67 }),
    /** Port replies are sent to (68 in production). */
    clientPort: Type.Integer({ minimum: 1, maximum: 65535, default: 68 }),
    /** Menu text of PXE option 43 sub-option 9 for Pis. */
    menuText: Type.String({ minLength: 1, maxLength: 200, default: 'Raspberry Pi Boot' }),
  },
  { default: {}, additionalProperties: false },
);
export type DhcpConfig = Static<typeof DhcpConfigSchema>;
