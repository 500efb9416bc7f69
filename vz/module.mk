LIB_SRCS += \
	vz/state.c \
	vz/validate.c \
	vz/vz.c
