/* Sharing replicas over NVMe-oF with their persisted properties (lvol_share.c).
 * Primary reactor. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "lvs/lvol.h"
#include "lvs/lvs.h"

struct lvol;

bool lvol_is_shared(const struct lvol *lv);
/* Shares lv (or, when it is shared, replaces its allowed hosts) and records "shared=true"
 * and "allowed-hosts". A new share with --ptpl-dir starts from the reservations in the
 * replica's PTPL file (ptpl.h); a file that does not hold this replica's state fails it. */
void lvol_share(struct lvol *lv, const char *const *hosts, size_t n_hosts, lvs_done_cb cb,
                void *arg);
/* CreateReplica share=NVMF: shares lv, just created; when that fails lv is destroyed again
 * and cb gets the share's error with a message naming the replica as `label` and saying
 * whether the destroy worked (-ENOENT "the replica disappeared" if lv went meanwhile).
 * On success cb(arg, 0, lv, NULL). */
void lvol_share_new(struct lvol *lv, const char *const *hosts, size_t n_hosts, const char *label,
                    lvol_cb cb, void *arg);
/* Stops sharing lv and records "shared=false" (nothing to stop if it is not shared). */
void lvol_unshare(struct lvol *lv, lvs_done_cb cb, void *arg);
/* Stops sharing lv without recording it (export: it is shared again at the next import). */
void lvol_stop_sharing(struct lvol *lv, lvs_done_cb cb, void *arg);
/* Import: shares again every replica of l whose "shared" property says so, with its
 * allowed hosts and the reservation state of its PTPL file; then done(arg). */
void lvol_reshare_all(struct lvs *l, void (*done)(void *arg), void *arg);
