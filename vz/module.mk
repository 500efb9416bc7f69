LIB_SRCS += \
	vz/cleanup_watcher.c \
	vz/disk_image.c \
	vz/state.c \
	vz/validate.c \
	vz/vz.c
