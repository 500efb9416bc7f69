LIB_SRCS += \
	devices/nbd.c \
	devices/nvme.c \
	devices/registry.c \
	devices/rosetta.c \
	devices/storage.c \
	devices/usb_mass_storage.c \
	devices/virtio_balloon.c \
	devices/virtio_blk.c \
	devices/virtio_fs.c \
	devices/virtio_gpu.c \
	devices/virtio_input.c \
	devices/virtio_net.c \
	devices/virtio_rng.c \
	devices/virtio_serial.c \
	devices/virtio_vsock.c
