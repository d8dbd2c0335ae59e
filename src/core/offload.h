/* Runs blocking work (udev/blkid probing, file reads) off the reactors: `work` runs on
 * a short-lived worker thread, then `done` runs back on the reactor that asked. The
 * control path uses it rarely, so a thread per job is simpler than a pool. */
#pragma once
#include "reactor.h"

int offload(reactor_fn work, reactor_fn done, void *arg);
/* Shutdown: runs done(arg) on the calling reactor once every offloaded job has
 * finished and its completion has run (polls every millisecond). */
void offload_drain(reactor_fn done, void *arg);
