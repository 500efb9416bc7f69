/* STAND-IN for the macOS SDK's <objc/NSObjCRuntime.h>, for `make cross-macos`
 * only (test/cross-macos/README.md): NSInteger and NSUInteger as Apple defines
 * them for 64-bit targets (the only ones the Virtualization framework has). */
#ifndef VZKIT_CROSS_MACOS_NSOBJCRUNTIME_H
#define VZKIT_CROSS_MACOS_NSOBJCRUNTIME_H

typedef long NSInteger;
typedef unsigned long NSUInteger;

#endif
