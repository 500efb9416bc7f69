# vz/qemu/: the QEMU engine (Linux hosts).
ifneq ($(HOST_OS),Darwin)
LIB_SRCS += \
	vz/qemu/accel.c \
	vz/qemu/accel_cache.c \
	vz/qemu/device_error.c \
	vz/qemu/engine.c \
	vz/qemu/host.c \
	vz/qemu/plan.c \
	vz/qemu/process.c \
	vz/qemu/qmp.c \
	vz/qemu/strv.c \
	vz/qemu/vhost_user.c \
	vz/qemu/virtqueue.c \
	vz/qemu/vsock.c \
	vz/qemu/vsock_backend.c
endif
