#include "host_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/offload.h"

struct list_job {
    struct rpc_call *call;
    bool all;
    int rc;
    struct blk_device_list list;
    blk_reply_fn reply;
};

static void list_work(void *arg)
{
    struct list_job *j = arg;
    j->rc = blk_device_list(j->all, &j->list);
}

static void list_done(void *arg)
{
    struct list_job *j = arg;
    if (j->rc)
        rpc_fail(j->call, GRPC_STATUS_INTERNAL, "cannot enumerate block devices: %s",
                 strerror(-j->rc));
    else
        j->reply(j->call, &j->list);
    blk_device_list_free(&j->list);
    free(j);
}

void host_list_block_devices(struct rpc_call *call, bool all, blk_reply_fn reply)
{
    struct list_job *j = calloc(1, sizeof(*j));
    if (!j) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    j->call = call;
    j->all = all;
    j->reply = reply;
    int rc = offload(list_work, list_done, j);
    if (rc) {
        free(j);
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start device enumeration: %s",
                 strerror(-rc));
    }
}

bool host_rusage(struct rpc_call *call, struct rusage *ru)
{
    if (getrusage(RUSAGE_SELF, ru) == 0)
        return true;
    rpc_fail(call, GRPC_STATUS_INTERNAL, "getrusage failed: %s", strerror(errno));
    return false;
}
