import { Type, type Static } from '@sinclair/typebox';
import { DhcpConfigSchema } from './dhcp/config.ts';
import { TftpConfigSchema } from './tftp/config.ts';

/**
 * `netboot` section of picluster.yaml. This minimal form is enough:
 * `netboot: { enabled: true, interface: eth0, mode: proxy, tftpRoot: /some/dir, clients: any }`.
 */
export const NetbootConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: false }),
    /** Boot interface; its IPv4 address is the server address unless `serverAddress` is set. */
    interface: Type.String({ minLength: 1, default: 'eth0' }),
    /** Explicit IPv4 of the boot interface (tests: an address in their own netns or 127.0.0.1). */
    serverAddress: Type.Optional(Type.String({ format: 'ipv4' })),
    mode: Type.Union([Type.Literal('proxy'), Type.Literal('full')], { default: 'proxy' }),
    /** `known`: inventory nodes only (plus enrollment); `any`: every PXE client. */
    clients: Type.Union([Type.Literal('known'), Type.Literal('any')], { default: 'known' }),
    /** With `clients: known`, record unknown PXE clients as pending-approval. */
    enrollment: Type.Boolean({ default: false }),
    /** Directory served as the shared TFTP root (the built image). */
    tftpRoot: Type.String({ minLength: 1, default: 'image/dist/pi' }),
    /** Directory served over HTTP at /boot/ by the master (iPXE, kernels, the two-stage runtime). */
    httpRoot: Type.String({ minLength: 1, default: 'image/dist' }),
    /**
     * The dispatcher URL written into each node's kernel cmdline (`picluster.dispatcher=`);
     * default: ws://<boot interface address>:<http port>/agent.
     */
    dispatcherUrl: Type.Optional(Type.String({ pattern: '^wss?://' })),
    dhcp: DhcpConfigSchema,
    tftp: TftpConfigSchema,
  },
  { default: {}, additionalProperties: false },
);
export type NetbootConfig = Static<typeof NetbootConfigSchema>;
