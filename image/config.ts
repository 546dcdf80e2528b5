/**
 * `image` section of picluster.yaml: what `picluster build-image` puts into the image beyond the
 * base (kernel, busybox, glibc, Node.js, the agent). `--package` on the command line adds to it.
 *
 *   image:
 *     packages: [python3-minimal, libpython3-stdlib, python3-numpy]   # [] = no package layer
 */
import { Type, type Static } from '@sinclair/typebox';
import { DEFAULT_IMAGE_PACKAGES } from './build/packages.ts';

export const ImageConfigSchema = Type.Object(
  {
    /** Debian packages (bookworm main) for the package layer; their dependencies are added at build time. */
    packages: Type.Array(Type.String({ pattern: '^[a-z0-9][a-z0-9+.-]+$' }), { default: [...DEFAULT_IMAGE_PACKAGES], maxItems: 500 }),
  },
  { default: {}, additionalProperties: false },
);

export type ImageConfig = Static<typeof ImageConfigSchema>;
