#include "grpc/bdev_share.h"

#include <errno.h>
#include <string.h>

#include "bdev/bdev.h"
#include "nvmf/nvmf.h"

bool bdev_rpc_share(struct rpc_call *call, const char *name, char **hosts, size_t n_hosts)
{
    char err[256] = "";
    int rc = nvmf_share_device(name, (const char *const *)hosts, n_hosts, err, sizeof(err));
    if (!rc)
        return true;
    /* a device in use by another module is a precondition the user can change */
    rpc_fail(call, rc == -EBUSY ? GRPC_STATUS_FAILED_PRECONDITION : rpc_status_from_errno(rc), "%s",
             err[0] ? err : strerror(-rc));
    return false;
}

static void unshared(void *arg, int rc)
{
    struct rpc_call *call = arg;
    if (rc)
        rpc_fail(call, GRPC_STATUS_INTERNAL, "unshare failed: %s", strerror(-rc));
    else
        rpc_reply(call, NULL);
}

void bdev_rpc_unshare(struct rpc_call *call, const char *name)
{
    if (!bdev_lookup(name)) {
        rpc_fail(call, GRPC_STATUS_NOT_FOUND, "no device %s", name);
        return;
    }
    nvmf_unshare_device(name, unshared, call);
}
