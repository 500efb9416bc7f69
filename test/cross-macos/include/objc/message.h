/* STAND-IN for the macOS SDK's <objc/message.h>, for `make cross-macos` only
 * (test/cross-macos/README.md): objc_msgSend as Apple declares it when
 * OBJC_OLD_DISPATCH_PROTOTYPES is 0 (the default) — callers cast it to the
 * exact function type of each message, as vz/apple/runtime.c does. */
#ifndef VZKIT_CROSS_MACOS_OBJC_MESSAGE_H
#define VZKIT_CROSS_MACOS_OBJC_MESSAGE_H

#include <objc/objc.h>

OBJC_EXPORT void objc_msgSend(void);

#endif
