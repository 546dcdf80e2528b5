#!/bin/sh
# picluster post-image script (BR2_ROOTFS_POST_IMAGE_SCRIPT): $1 is the images directory.
# Assembles <images>/picluster/{pi/,arm64/runtime.squashfs,manifest.json}, the layout of
# `npm run build-image` (buildroot/support/post-image.ts).
# The remaining arguments are BR2_ROOTFS_POST_SCRIPT_ARGS (--board <name>). Runs with the
# host's node and this checkout's node_modules (npm ci); PICLUSTER_NODE overrides the node.
set -eu
external=${BR2_EXTERNAL_PICLUSTER_PATH:-$(CDPATH='' cd -- "$(dirname -- "$0")/../../.." && pwd)}
# Buildroot's host tools (mksquashfs, depmod, node) first, as in its own package steps.
if [ -n "${HOST_DIR:-}" ]; then
  PATH="$HOST_DIR/bin:$HOST_DIR/sbin:$PATH"
  export PATH
fi
exec "${PICLUSTER_NODE:-node}" "$external/support/run.mjs" post-image "$@"
