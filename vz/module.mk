LIB_SRCS += \
	vz/cleanup_watcher.c \
	vz/state.c \
	vz/validate.c \
	vz/vz.c
