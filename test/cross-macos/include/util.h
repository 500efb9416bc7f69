/* STAND-IN for macOS's <util.h> (libutil, part of libSystem), for
 * `make cross-macos` only (test/cross-macos/README.md): the zig package's Apple
 * libc headers lack it. openpty and forkpty as Apple declares them. */
#ifndef VZKIT_CROSS_MACOS_UTIL_H
#define VZKIT_CROSS_MACOS_UTIL_H

#include <sys/types.h>
#include <termios.h>
#include <sys/ioctl.h>

int openpty(int *amaster, int *aslave, char *name, struct termios *termp, struct winsize *winp);
pid_t forkpty(int *amaster, char *name, struct termios *termp, struct winsize *winp);

#endif
