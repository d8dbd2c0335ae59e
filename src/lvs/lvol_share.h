/* Sharing replicas over NVMe-oF with their persisted properties (lvol_share.c).
 * Primary reactor. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "lvs/lvs.h"

struct lvol;

bool lvol_is_shared(const struct lvol *lv);
/* Shares lv (or, when it is shared, replaces its allowed hosts) and records "shared=true"
 * and "allowed-hosts". */
void lvol_share(struct lvol *lv, const char *const *hosts, size_t n_hosts, lvs_done_cb cb,
                void *arg);
/* Stops sharing lv and records "shared=false" (nothing to stop if it is not shared). */
void lvol_unshare(struct lvol *lv, lvs_done_cb cb, void *arg);
/* Stops sharing lv without recording it (export: it is shared again at the next import). */
void lvol_stop_sharing(struct lvol *lv, lvs_done_cb cb, void *arg);
/* Shares lv again if its "shared" property says so (import). */
void lvol_reshare(struct lvol *lv);
