include $(sort $(wildcard $(BR2_EXTERNAL_PICLUSTER_PATH)/package/*/*.mk))
