/* Sharing a device by name, for the RPCs (BdevRpc v1/v0, ReplicaRpc through lvol_share):
 * share it, or, when it is shared already, only replace its allowed hosts. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nvmf/nvmf.h"

int nvmf_share_device(const char *name, const char *const *hosts, size_t n_hosts, char *err,
                      size_t errlen)
{
    if (!nvmf_target_running()) {
        snprintf(err, errlen, "the NVMe-oF target is not running (nexus_opts.nvmf_enable)");
        return -ESHUTDOWN;
    }
    struct nvmf_subsys *ss = nvmf_subsys_for_bdev(name);
    if (ss) {
        int rc = nvmf_set_hosts(ss, hosts, n_hosts);
        if (rc)
            snprintf(err, errlen, "%s: invalid allowed hosts", name);
        return rc;
    }
    return nvmf_share(name, hosts, n_hosts, NULL, err, errlen);
}

void nvmf_unshare_device(const char *name, void (*done)(void *arg, int rc), void *arg)
{
    struct nvmf_subsys *ss = nvmf_subsys_for_bdev(name);
    if (!ss) {
        done(arg, 0); /* not shared: nothing to do */
        return;
    }
    nvmf_unshare(ss, done, arg);
}
