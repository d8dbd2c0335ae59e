/* Reservation state that persists through power loss (NVMe PTPL) lives in one small
 * JSON file per namespace under --ptpl-dir (behaviour §4, §6):
 *   replica  <ptpl-dir>/pool/<pool uuid>/replica/<replica uuid>.json
 *   nexus    <ptpl-dir>/nexus/<nexus uuid>.json
 * in SPDK's format (resv.h). The file is read when the namespace is shared and written
 * before a reservation command that changes the state completes. The reads and writes
 * run off the reactors (offload); callbacks come back on the primary. */
#pragma once
#include <stddef.h>

/* The replica's file; -ENOENT when no --ptpl-dir is configured. */
int nvmf_ptpl_replica_path(const char *pool_uuid, const char *uuid, char *out, size_t len);

/* Reads the file: cb(arg, 0, text) with the text (NULL when there is no file; the
 * callee owns it and free()s it), or cb(arg, -errno, NULL). */
void nvmf_ptpl_load(const char *path, void (*cb)(void *arg, int rc, char *text), void *arg);
/* Replaces the file's content durably: parent directories created, the text written to
 * a temporary file, synced, renamed over the file and the directory synced, so a crash
 * leaves the old or the new state, never a torn one. cb(arg, 0 or -errno). */
void nvmf_ptpl_store(const char *path, const char *text, void (*cb)(void *arg, int rc),
                     void *arg);
