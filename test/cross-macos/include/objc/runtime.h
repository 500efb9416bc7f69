/* STAND-IN for the macOS SDK's <objc/runtime.h>, for `make cross-macos` only
 * (test/cross-macos/README.md). The zig package's Apple libc headers ship
 * objc/objc.h but not this file; these are the declarations vz/apple uses,
 * with the signatures of Apple's objc4 runtime.h. A Mac build uses the SDK. */
#ifndef VZKIT_CROSS_MACOS_OBJC_RUNTIME_H
#define VZKIT_CROSS_MACOS_OBJC_RUNTIME_H

#include <objc/objc.h>
#include <stddef.h>
#include <stdint.h>

typedef struct objc_ivar *Ivar;
typedef struct objc_method *Method;
typedef struct objc_object Protocol;

OBJC_EXPORT Class _Nullable objc_allocateClassPair(Class _Nullable superclass, const char * _Nonnull name,
						   size_t extraBytes);
OBJC_EXPORT void objc_registerClassPair(Class _Nonnull cls);
OBJC_EXPORT Class _Nullable objc_lookUpClass(const char * _Nonnull name);
OBJC_EXPORT Protocol * _Nullable objc_getProtocol(const char * _Nonnull name);
OBJC_EXPORT BOOL class_addIvar(Class _Nullable cls, const char * _Nonnull name, size_t size, uint8_t alignment,
			       const char * _Nullable types);
OBJC_EXPORT BOOL class_addMethod(Class _Nullable cls, SEL _Nonnull name, IMP _Nonnull imp,
				 const char * _Nullable types);
OBJC_EXPORT BOOL class_addProtocol(Class _Nullable cls, Protocol * _Nonnull protocol);
OBJC_EXPORT Ivar _Nullable class_getInstanceVariable(Class _Nullable cls, const char * _Nonnull name);
OBJC_EXPORT const char * _Nonnull class_getName(Class _Nullable cls);
OBJC_EXPORT Class _Nullable class_getSuperclass(Class _Nullable cls);
OBJC_EXPORT BOOL class_isMetaClass(Class _Nullable cls);
OBJC_EXPORT BOOL class_respondsToSelector(Class _Nullable cls, SEL _Nonnull sel);
OBJC_EXPORT ptrdiff_t ivar_getOffset(Ivar _Nonnull v);
OBJC_EXPORT Class _Nullable object_getClass(id _Nullable obj);

#endif
