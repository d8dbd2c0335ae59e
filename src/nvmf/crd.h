/* Command Retry Delay (NVMe Base 2.0 §3.3.3.2.1.1, behaviour §6): a command that failed
 * and may be retried (DNR clear) tells a host that enabled Advanced Command Retry (the
 * Host Behavior Support feature's ACRE) which of the controller's three delays,
 * CRDT1..3 (--tgt-crdt, x100 ms), to wait before retrying it:
 *   - index 1 by default;
 *   - replica subsystems (every device that is not a nexus): index 3, the longest, as a
 *     replica's transient errors (a pool out of space, a device resetting) last;
 *   - nexus subsystems: index 2 for Reservation Conflict and Capacity Exceeded, whose
 *     cause a control plane clears, 1 for the rest.
 * No delay without ACRE, on success, or with DNR set. Pure. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

enum nvmf_subsys_kind { NVMF_SUBSYS_REPLICA = 0, NVMF_SUBSYS_NEXUS = 1 };

/* status: (SCT << 8) | SC. Returns the CRD index 0..3. */
static inline uint8_t nvmf_crd_index(bool acre, enum nvmf_subsys_kind kind, uint16_t status,
                                     bool dnr)
{
    if (!acre || !status || dnr)
        return 0;
    if (kind == NVMF_SUBSYS_REPLICA)
        return 3;
    if (status == 0x083 /* Reservation Conflict */ || status == 0x081 /* Capacity Exceeded */)
        return 2;
    return 1;
}
