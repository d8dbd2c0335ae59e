/* NVMe Qualified Names used by the engine (behaviour §1, §4, §6). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define NQN_PREFIX "nqn.2019-05.io.openebs"
#define NQN_MAX_LEN 223 /* NVMe base spec: NQNs are at most 223 bytes */
#define NQN_DISCOVERY "nqn.2014-08.org.nvmexpress.discovery"

/* nqn.2019-05.io.openebs:<name> — the subsystem NQN of a shared bdev, replica or nexus. */
int nqn_for_target(const char *name, char *out, size_t len);
/* Host NQN: env HOSTNQN, else nqn.2019-05.io.openebs:node-name:<node>. */
int nqn_for_host(const char *node_name, char *out, size_t len);
/* Syntactic check of an NQN: "nqn.yyyy-mm.<reverse domain>[:<anything>]" or the
 * UUID form "nqn.2014-08.org.nvmexpress:uuid:<uuid>", at most 223 bytes. */
bool nqn_is_valid(const char *nqn);
/* The target name back from an engine NQN, or NULL if it is not one of ours. */
const char *nqn_target_name(const char *nqn);
