################################################################################
#
# picluster-agent
#
################################################################################

# The checkout this tree lives in (BR2_EXTERNAL_PICLUSTER_PATH is <repo>/buildroot): the
# agent, image/rootfs and image/build come from it, not from a download.
PICLUSTER_AGENT_VERSION = 0.1.0
PICLUSTER_AGENT_SITE = $(BR2_EXTERNAL_PICLUSTER_PATH)/..
PICLUSTER_AGENT_SITE_METHOD = local
PICLUSTER_AGENT_LICENSE = MIT
PICLUSTER_AGENT_LICENSE_FILES = LICENSE
PICLUSTER_AGENT_DEPENDENCIES = busybox nodejs host-squashfs host-kmod

# Build outputs and caches of the checkout are not sources (buildroot/output may hold this
# very build, which would copy itself).
PICLUSTER_AGENT_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /buildroot/output --exclude /image/.cache --exclude /image/dist \
	--exclude /.cache --exclude /data --exclude /test/e2e/out

# node on the build host: Buildroot's host-nodejs when built, else the system's.
PICLUSTER_AGENT_NODE = node

define PICLUSTER_AGENT_BUILD_CMDS
	$(HOST_MAKE_ENV) $(PICLUSTER_AGENT_NODE) $(@D)/buildroot/support/run.mjs \
		install-agent --out $(@D)/picluster-target
endef

define PICLUSTER_AGENT_INSTALL_TARGET_CMDS
	cp -dpfR $(@D)/picluster-target/. $(TARGET_DIR)/
endef

$(eval $(generic-package))
