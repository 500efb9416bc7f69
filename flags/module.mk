LIB_SRCS += \
	flags/component.c \
	flags/error.c \
	flags/keytab.c \
	flags/nbd_uri.c \
	flags/optstr.c \
	flags/shell.c \
	flags/uri.c
