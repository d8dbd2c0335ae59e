#include "client.h"

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>

struct rpc_client {
    grpc_channel *channel;
    grpc_completion_queue *cq;
};

struct rpc_client *rpc_client_new(const char *target)
{
    struct rpc_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (!strncmp(target, "http://", 7))
        target += 7;
    /* Talk to the daemon directly even when the operator's shell sets http_proxy. */
    grpc_arg arg = {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ENABLE_HTTP_PROXY, .value.integer = 0};
    grpc_channel_args args = {.num_args = 1, .args = &arg};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->channel = grpc_channel_create(target, creds, &args);
    grpc_channel_credentials_release(creds);
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    return c;
}

void rpc_client_free(struct rpc_client *c)
{
    if (!c)
        return;
    grpc_completion_queue_shutdown(c->cq);
    while (grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(c->cq);
    grpc_channel_destroy(c->channel);
    free(c);
}

const char *rpc_status_name(grpc_status_code code)
{
    static const char *names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    return (unsigned)code < sizeof(names) / sizeof(names[0]) ? names[code] : "UNKNOWN";
}

int rpc_client_call(struct rpc_client *c, const char *path, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *reply_desc, unsigned timeout_ms,
                    struct rpc_result *res)
{
    memset(res, 0, sizeof(*res));
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_slice method = grpc_slice_from_copied_string(path);
    grpc_call *call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                               method, NULL, deadline, NULL);
    grpc_slice_unref(method);
    if (!call)
        return -ENOMEM;

    size_t len = req ? protobuf_c_message_get_packed_size(req) : 0;
    grpc_slice payload = grpc_slice_malloc(len);
    if (len)
        protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(payload));
    grpc_byte_buffer *send_buf = grpc_raw_byte_buffer_create(&payload, 1);
    grpc_slice_unref(payload);

    grpc_metadata_array init_md, trail_md;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    grpc_byte_buffer *recv_buf = NULL;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send_buf;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv_buf;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.status = &res->status;
    ops[5].data.recv_status_on_client.status_details = &details;

    int rc = 0;
    int tag;
    if (grpc_call_start_batch(call, ops, 6, &tag, NULL) != GRPC_CALL_OK) {
        rc = -EIO;
    } else {
        grpc_event ev = grpc_completion_queue_pluck(c->cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                    NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            rc = -EIO;
    }
    if (rc == 0) {
        char *d = grpc_slice_to_c_string(details);
        res->details = strdup(d ? d : "");
        gpr_free(d);
        if (res->status == GRPC_STATUS_OK && recv_buf) {
            grpc_byte_buffer_reader rd;
            grpc_byte_buffer_reader_init(&rd, recv_buf);
            grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
            grpc_byte_buffer_reader_destroy(&rd);
            res->reply = protobuf_c_message_unpack(reply_desc, NULL, GRPC_SLICE_LENGTH(s),
                                                   GRPC_SLICE_START_PTR(s));
            grpc_slice_unref(s);
            if (!res->reply) {
                res->status = GRPC_STATUS_INTERNAL;
                free(res->details);
                res->details = strdup("malformed reply from the server");
            }
        } else if (res->status == GRPC_STATUS_OK) {
            res->status = GRPC_STATUS_INTERNAL;
            free(res->details);
            res->details = strdup("the server sent no reply message");
        }
    }
    grpc_slice_unref(details);
    if (recv_buf)
        grpc_byte_buffer_destroy(recv_buf);
    grpc_byte_buffer_destroy(send_buf);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    grpc_call_unref(call);
    return rc;
}

void rpc_result_free(struct rpc_result *res)
{
    free(res->details);
    if (res->reply)
        protobuf_c_message_free_unpacked(res->reply, NULL);
    memset(res, 0, sizeof(*res));
}
