/* STAND-IN for the macOS SDK's <CoreFoundation/CoreFoundation.h>, for
 * `make cross-macos` only (test/cross-macos/README.md): the run-loop pieces
 * vz/apple/queue_dispatch.c uses, with CoreFoundation's types and values. */
#ifndef VZKIT_CROSS_MACOS_COREFOUNDATION_H
#define VZKIT_CROSS_MACOS_COREFOUNDATION_H

#include <stdint.h>

typedef unsigned char Boolean;
typedef int32_t SInt32;
typedef double CFTimeInterval;
typedef const struct __CFString *CFStringRef;
typedef CFStringRef CFRunLoopMode;

typedef enum {
	kCFRunLoopRunFinished = 1,
	kCFRunLoopRunStopped = 2,
	kCFRunLoopRunTimedOut = 3,
	kCFRunLoopRunHandledSource = 4
} CFRunLoopRunResult;

extern const CFRunLoopMode kCFRunLoopDefaultMode;
extern CFRunLoopRunResult CFRunLoopRunInMode(CFRunLoopMode mode, CFTimeInterval seconds,
					     Boolean returnAfterSourceHandled);

#endif
