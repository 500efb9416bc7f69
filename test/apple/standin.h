/* Stand-ins for Apple's frameworks on the GNU Objective-C runtime, so the
 * Apple engine runs unchanged on Linux. Every class the engine names is
 * registered at run time under its real name:
 * - Virtualization classes and methods come from vz-selectors.tsv, each with
 *   the table's type encoding (a selector the table lacks does not exist);
 * - NSObject, Foundation and AppKit classes carry exactly the methods the
 *   engine declares in vz/apple/messages.def.
 * Each message is recorded in the engine's plan notation ("[VZFoo#1
 * initWithURL:<file:///x> readOnly:YES ...]"); objects print as Class#n (n
 * counts per class), Foundation values as their value. Reference counts are
 * tracked so leaks and over-releases show up. Single-threaded. */
#ifndef VZKIT_TEST_APPLE_STANDIN_H
#define VZKIT_TEST_APPLE_STANDIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "test/apple/tsv.h"
#include "vz/apple/runtime.h"

/* Registers every class; 0, or -1 with a message in error. Once per process. */
int standin_init(const struct tsv_table *tsv, char *error, size_t size);
/* How many TSV methods got a stand-in (the others have encodings with
 * structs or vmnet pointers, which the engine never sends). */
size_t standin_method_count(void);
/* How many block arguments matched the table's block signature so far (a
 * mismatch is a problem, see standin_problems). */
size_t standin_blocks_checked(void);

/* Forgets every object, the log, the problems and the behaviours. */
void standin_reset(void);
/* The messages received since the last reset or log clear, one per line. */
const char *standin_log(void);
void standin_clear_log(void);
/* Messages to released objects, over-releases... ("" when none). */
const char *standin_problems(void);
/* Releases what the stand-in autorelease pool holds (a pool pop). */
void standin_drain_pool(void);
/* Releases the stand-in autorelease pool, then lists the objects still
 * alive ("" when none), e.g. "VZDiskImageStorageDeviceAttachment#1 (2)". */
const char *standin_leaks(void);

/* ---- behaviours ---- */
/* The next sends of cls/selector fail: nil or NO, with an NSError when the
 * method has an error out-parameter. */
void standin_fail(const char *cls, const char *selector, const char *domain, long code, const char *description);
/* What a BOOL or integer getter answers (default YES / 0). */
void standin_answer(const char *cls, const char *selector, long value);

/* The newest instance of cls, or nil. */
id standin_newest(const char *cls);
/* The VM's state (VZVirtualMachineState); set_state changes it silently,
 * as the framework does between callbacks. */
long standin_vm_state(void);
void standin_vm_set_state(long state);
/* -requestStopWithError: makes the guest power off (default: it does). */
void standin_vm_guest_obeys(bool obeys);
/* -startWithCompletionHandler: hands this error to its handler. */
void standin_vm_start_fails(const char *domain, long code, const char *description);
/* The VM's delegate hears guestDidStopVirtualMachine: / virtualMachine:didStopWithError:. */
void standin_vm_guest_stops(void);
void standin_vm_stops_with_error(const char *domain, long code, const char *description);

/* A guest connection to a host-listened vsock port: the listener's delegate
 * is asked; *guest_fd is the guest's end (the host end went to the engine).
 * 1 accepted, 0 refused, -1 no listener. */
int standin_vsock_guest_connects(uint32_t port, int *guest_fd);
/* silent: -connectToPort:completionHandler: keeps its handler and does
 * nothing more (a guest port nobody listens on), until answer_pending. */
void standin_vsock_connect_silent(bool silent);
/* Calls the kept handler with a new connection (the guest started to
 * listen); false when there is none. */
bool standin_vsock_answer_pending(void);
/* The guest end of the last -connectToPort:completionHandler:, or -1; the
 * caller owns it. */
int standin_vsock_take_guest_end(void);

/* --gui: after `pumps` -nextEventMatchingMask:... calls, run `action`. */
void standin_after_events(int pumps, void (*action)(void));
/* The next -start...CompletionHandler: puts the VM in Starting, runs
 * `action` (a stop request, say) and then completes as usual. */
void standin_during_start(void (*action)(void));
/* At the install's first progress read, run `action`. */
void standin_during_install(void (*action)(void));
/* After `reads` more -[VZVirtualMachine state] calls, run `action`. */
void standin_after_state_reads(int reads, void (*action)(void));
/* The user clicks the window's close button: AppKit tells the window's
 * delegate windowWillClose: and the window is gone (-isVisible NO). */
void standin_window_user_closes(void);
/* The user clicks the yellow button: the window goes to the Dock
 * (-isVisible NO), nothing is closed and the delegate hears nothing. */
void standin_window_miniaturize(void);
/* Whether the application was activated after finishLaunching (the only
 * activation that brings the window to the front with focus). */
bool standin_app_active(void);
/* Whether the window is on screen (not closed, not miniaturised). */
bool standin_window_visible(void);

#endif
