/* --timesync: after the host resumes from suspend, set the guest clock
 * through qemu-guest-agent on the given vsock port. */
#ifndef VZKIT_CMD_SERVICES_TIMESYNC_H
#define VZKIT_CMD_SERVICES_TIMESYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "flags/error.h"
#include "vz/engine.h"

struct timesync;

/* *out stays NULL when port is 0. */
int timesync_start(const struct vz_engine_ops *engine, struct engine_vm *vm, uint32_t port,
		   struct timesync **out, struct vzk_error *err);
void timesync_stop(struct timesync *timesync); /* NULL ok */
/* Sets the guest's clock now, as after a resume; false when timesync is NULL. */
bool timesync_sync_now(struct timesync *timesync);

/* Pieces, public for tests. */
/* True when CLOCK_BOOTTIME gained on CLOCK_MONOTONIC by a second or more
 * since the last sample: the host was suspended in between. */
bool timesync_host_resumed(int64_t boottime_minus_monotonic_ns_before,
			   int64_t boottime_minus_monotonic_ns_now);
/* A descriptor that becomes readable when the wall clock jumps against
 * CLOCK_MONOTONIC (a host resume or a clock set) and never otherwise; -1
 * where the system has no such thing (then timesync looks once a second). */
int timesync_clock_watch_open(void);
/* After it polled readable: 1 when the clock jumped (then open a new one). */
int timesync_clock_watch_fired(int watch_fd);
/* Sends guest-set-time with the host's clock over an open agent connection
 * and reads the reply. */
int timesync_set_guest_time(int agent_fd, struct vzk_error *err);

#endif
