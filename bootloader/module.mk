LIB_SRCS += \
	bootloader/efi.c \
	bootloader/linux.c \
	bootloader/macos.c \
	bootloader/registry.c
