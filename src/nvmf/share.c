/* Sharing a device by name, for the RPCs (BdevRpc v1/v0, ReplicaRpc through lvol_share):
 * share it, or, when it is shared already, only replace its allowed hosts. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>
#include <uuid/uuid.h>

#include "bdev/bdev.h"
#include "nvmf/nvmf.h"
#include "nvmf/nvmf_internal.h"

int nvmf_share_device_ptpl(const char *name, const char *const *hosts, size_t n_hosts,
                           const char *ptpl_path, const char *ptpl_text, char *err, size_t errlen)
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
    struct nvmf_resv resv;
    char *path = NULL;
    if (ptpl_path) {
        struct bdev *b = bdev_lookup(name);
        char uuid[37], why[200];
        if (!b) {
            snprintf(err, errlen, "no device %s", name);
            return -ENODEV;
        }
        uuid_unparse_lower(b->uuid, uuid);
        int rc = nvmf_resv_from_ptpl(&resv, ptpl_text, uuid, why, sizeof(why));
        if (rc) {
            snprintf(err, errlen, "reservation persistence file %s: %s", ptpl_path, why);
            return rc == -EINVAL ? -EBADMSG : rc;
        }
        if (!(path = strdup(ptpl_path))) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    int rc = nvmf_share(name, hosts, n_hosts, &ss, err, errlen);
    if (rc) {
        free(path);
        return rc;
    }
    if (path) {
        ss->ptpl_path = path;
        ss->resv = resv; /* no host can have connected yet */
    }
    return 0;
}

int nvmf_share_device(const char *name, const char *const *hosts, size_t n_hosts, char *err,
                      size_t errlen)
{
    return nvmf_share_device_ptpl(name, hosts, n_hosts, NULL, NULL, err, errlen);
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
