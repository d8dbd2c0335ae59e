#include "server.h"

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/reactor.h"
#include "registry.h"

/* Outstanding grpc_server_request_call()s, so bursts of new calls do not queue behind
 * one re-arm. */
#define PENDING_REQUESTS 16

enum tag_kind { TAG_NEW, TAG_RECV, TAG_CLOSE, TAG_SEND, TAG_SHUTDOWN };

struct tag {
    enum tag_kind kind;
    struct rpc_call *call;
};

/* One batch of send operations; a call has at most one in flight, the rest wait. */
struct send_item {
    struct send_item *next;
    grpc_byte_buffer *msg; /* NULL: no message */
    bool has_status;
    grpc_status_code status;
    grpc_slice details;
    grpc_metadata md;
    bool has_md;
};

struct rpc_call {
    grpc_call *gcall;
    grpc_call_details details;
    grpc_metadata_array req_md;
    grpc_byte_buffer *recv_buf;
    int close_cancelled;
    struct rpc_route route;
    ProtobufCMessage *request;
    char method[160];

    atomic_int refs;
    atomic_bool cancelled;
    atomic_bool finished;
    bool infinite_deadline;
    struct reactor_timer *timeout; /* primary reactor only */

    pthread_mutex_t lock; /* guards the send queue: handlers and the cq thread use it */
    struct send_item *q_head, *q_tail;
    struct send_item *in_flight;
    bool initial_md_sent;

    struct tag new_tag, recv_tag, close_tag, send_tag;
};

static struct {
    grpc_server *server;
    grpc_completion_queue *cq;
    pthread_t thread;
    bool thread_started;
    unsigned api_versions;
    unsigned default_timeout_ms;
    const struct rpc_service *const *services;
    atomic_bool shutting_down;
    atomic_bool force_exit; /* reactors are gone: calls still referenced never finish */
    atomic_int live_calls;
    struct tag shutdown_tag;
    struct reactor_timer *grace_timer;
    void (*done)(void *);
    void *done_arg;
} S;

/* ---- call lifetime ---- */

static void call_ref(struct rpc_call *c) { atomic_fetch_add(&c->refs, 1); }

static void free_item(struct send_item *it)
{
    if (it->msg)
        grpc_byte_buffer_destroy(it->msg);
    if (it->has_status)
        grpc_slice_unref(it->details);
    if (it->has_md) {
        grpc_slice_unref(it->md.key);
        grpc_slice_unref(it->md.value);
    }
    free(it);
}

static void call_unref(struct rpc_call *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    if (c->gcall)
        grpc_call_unref(c->gcall);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->req_md);
    if (c->recv_buf)
        grpc_byte_buffer_destroy(c->recv_buf);
    if (c->request)
        protobuf_c_message_free_unpacked(c->request, NULL);
    while (c->q_head) {
        struct send_item *it = c->q_head;
        c->q_head = it->next;
        free_item(it);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
    atomic_fetch_sub(&S.live_calls, 1);
}

static struct rpc_call *call_new(void)
{
    struct rpc_call *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->req_md);
    pthread_mutex_init(&c->lock, NULL);
    c->new_tag = (struct tag){TAG_NEW, c};
    c->recv_tag = (struct tag){TAG_RECV, c};
    c->close_tag = (struct tag){TAG_CLOSE, c};
    c->send_tag = (struct tag){TAG_SEND, c};
    atomic_fetch_add(&S.live_calls, 1);
    return c;
}

bool rpc_call_cancelled(const struct rpc_call *c) { return atomic_load(&c->cancelled); }
const char *rpc_call_method(const struct rpc_call *c) { return c->method; }

/* ---- sending ---- */

/* Starts the next queued send batch if none is in flight. Caller holds c->lock. */
static void send_next_locked(struct rpc_call *c)
{
    if (c->in_flight || !c->q_head)
        return;
    struct send_item *it = c->q_head;
    c->q_head = it->next;
    if (!c->q_head)
        c->q_tail = NULL;

    grpc_op ops[3];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (!c->initial_md_sent) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        n++;
        c->initial_md_sent = true;
    }
    if (it->msg) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = it->msg;
        n++;
    }
    if (it->has_status) {
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = it->status;
        ops[n].data.send_status_from_server.status_details = &it->details;
        ops[n].data.send_status_from_server.trailing_metadata_count = it->has_md ? 1 : 0;
        ops[n].data.send_status_from_server.trailing_metadata = it->has_md ? &it->md : NULL;
        n++;
    }
    c->in_flight = it;
    call_ref(c);
    grpc_call_error e = grpc_call_start_batch(c->gcall, ops, n, &c->send_tag, NULL);
    if (e != GRPC_CALL_OK) {
        log_error("gRPC %s: start_batch(send) failed: %d", c->method, e);
        c->in_flight = NULL;
        free_item(it);
        atomic_fetch_sub(&c->refs, 1); /* never below 1 here: the caller holds a ref */
    }
}

static void enqueue(struct rpc_call *c, struct send_item *it)
{
    pthread_mutex_lock(&c->lock);
    if (c->q_tail)
        c->q_tail->next = it;
    else
        c->q_head = it;
    c->q_tail = it;
    send_next_locked(c);
    pthread_mutex_unlock(&c->lock);
}

static void on_send_done(struct rpc_call *c, bool ok)
{
    pthread_mutex_lock(&c->lock);
    struct send_item *it = c->in_flight;
    c->in_flight = NULL;
    if (!ok)
        atomic_store(&c->cancelled, true);
    if (it)
        free_item(it);
    send_next_locked(c);
    pthread_mutex_unlock(&c->lock);
    call_unref(c);
}

static grpc_byte_buffer *pack(const ProtobufCMessage *msg)
{
    size_t len = msg ? protobuf_c_message_get_packed_size(msg) : 0;
    grpc_slice s = grpc_slice_malloc(len);
    if (len)
        protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* Queues the final batch once: the first finisher wins (handler, timeout or error). */
static bool finish(struct rpc_call *c, grpc_byte_buffer *msg, grpc_status_code code,
                   const char *details, const char *md_key, const char *md_value)
{
    if (atomic_exchange(&c->finished, true)) {
        if (msg)
            grpc_byte_buffer_destroy(msg);
        return false;
    }
    struct send_item *it = calloc(1, sizeof(*it));
    if (!it) {
        if (msg)
            grpc_byte_buffer_destroy(msg);
        grpc_call_cancel_with_status(c->gcall, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM", NULL);
        return false;
    }
    it->msg = msg;
    it->has_status = true;
    it->status = code;
    it->details = grpc_slice_from_copied_string(details ? details : "");
    if (md_key) {
        it->has_md = true;
        it->md.key = grpc_slice_from_copied_string(md_key);
        it->md.value = grpc_slice_from_copied_string(md_value ? md_value : "");
    }
    enqueue(c, it);
    return true;
}

static void cancel_timeout(void *arg)
{
    struct rpc_call *c = arg;
    reactor_timer_cancel(c->timeout);
    c->timeout = NULL;
    call_unref(c);
}

/* The handler's reference ends here; the timeout timer lives on the primary. */
static void handler_done(struct rpc_call *c)
{
    if (c->timeout) {
        if (reactor_on_primary()) {
            reactor_timer_cancel(c->timeout);
            c->timeout = NULL;
        } else if (reactor_send(reactor_primary(), cancel_timeout, c) == 0) {
            return; /* cancel_timeout drops the reference */
        }
    }
    call_unref(c);
}

void rpc_reply(struct rpc_call *c, const ProtobufCMessage *resp)
{
    bool streaming = c->route.handler && c->route.handler->server_streaming;
    grpc_byte_buffer *bb = streaming && !resp ? NULL : pack(resp);
    finish(c, bb, GRPC_STATUS_OK, "", NULL, NULL);
    handler_done(c);
}

static void vfail(struct rpc_call *c, grpc_status_code code, const char *k, const char *v,
                  const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    log_debug("gRPC %s -> status %d: %s", c->method, code, msg);
    finish(c, NULL, code, msg, k, v);
}

void rpc_fail(struct rpc_call *c, grpc_status_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, code, NULL, NULL, fmt, ap);
    va_end(ap);
    handler_done(c);
}

void rpc_fail_md(struct rpc_call *c, grpc_status_code code, const char *k, const char *v,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, code, k, v, fmt, ap);
    va_end(ap);
    handler_done(c);
}

int rpc_stream_send(struct rpc_call *c, const ProtobufCMessage *msg)
{
    if (atomic_load(&c->finished))
        return -ECANCELED;
    if (atomic_load(&c->cancelled))
        return -ECANCELED;
    struct send_item *it = calloc(1, sizeof(*it));
    if (!it)
        return -ENOMEM;
    it->msg = pack(msg);
    enqueue(c, it);
    return 0;
}

grpc_status_code rpc_status_from_errno(int err)
{
    switch (err < 0 ? -err : err) {
    case EINVAL:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case ENOENT:
    case ENODEV:
        return GRPC_STATUS_NOT_FOUND;
    case EEXIST:
        return GRPC_STATUS_ALREADY_EXISTS;
    case ENOSPC:
    case ENOMEM:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case EPERM:
        return GRPC_STATUS_PERMISSION_DENIED;
    case ECANCELED:
        return GRPC_STATUS_CANCELLED;
    case ETIMEDOUT:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case ESHUTDOWN:
        return GRPC_STATUS_UNAVAILABLE;
    default:
        return GRPC_STATUS_INTERNAL;
    }
}

/* ---- dispatch to the primary reactor ---- */

static void on_timeout(void *arg)
{
    struct rpc_call *c = arg;
    c->timeout = NULL; /* the one-shot handle dies after this callback */
    atomic_store(&c->cancelled, true);
    finish(c, NULL, GRPC_STATUS_DEADLINE_EXCEEDED, "request timed out", NULL, NULL);
}

static void dispatch_on_primary(void *arg)
{
    struct rpc_call *c = arg;
    if (atomic_load(&c->cancelled)) {
        call_unref(c);
        return;
    }
    if (c->infinite_deadline && S.default_timeout_ms)
        c->timeout = reactor_timer_start((uint64_t)S.default_timeout_ms * 1000, 0, on_timeout, c);
    c->route.handler->fn(c, c->request);
}

/* ---- completion-queue thread ---- */

static void request_one(void)
{
    if (atomic_load(&S.shutting_down))
        return;
    struct rpc_call *c = call_new();
    if (!c) {
        log_error("gRPC: out of memory arming a call");
        return;
    }
    grpc_call_error e = grpc_server_request_call(S.server, &c->gcall, &c->details, &c->req_md,
                                                 S.cq, S.cq, &c->new_tag);
    if (e != GRPC_CALL_OK) {
        log_error("gRPC: request_call failed: %d", e);
        call_unref(c);
    }
}

static void fail_early(struct rpc_call *c, grpc_status_code code, const char *msg)
{
    log_debug("gRPC %s -> status %d: %s", c->method, code, msg);
    finish(c, NULL, code, msg, NULL, NULL);
}

static void on_new_call(struct rpc_call *c, bool ok)
{
    if (!ok) { /* server shutting down */
        call_unref(c);
        return;
    }
    request_one();

    size_t mlen = GRPC_SLICE_LENGTH(c->details.method);
    const char *m = (const char *)GRPC_SLICE_START_PTR(c->details.method);
    snprintf(c->method, sizeof(c->method), "%.*s", (int)(mlen < 150 ? mlen : 150), m);
    gpr_timespec dl = gpr_convert_clock_type(c->details.deadline, GPR_CLOCK_MONOTONIC);
    c->infinite_deadline = gpr_time_cmp(dl, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0;

    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->close_cancelled;
    call_ref(c);
    if (grpc_call_start_batch(c->gcall, &op, 1, &c->close_tag, NULL) != GRPC_CALL_OK)
        call_unref(c);

    if (rpc_route_lookup(S.services, S.api_versions, m, mlen, &c->route)) {
        char msg[sizeof(c->method) + 64];
        snprintf(msg, sizeof(msg), "unknown service or method %s (or its API version is not served)",
                 c->method);
        fail_early(c, GRPC_STATUS_UNIMPLEMENTED, msg);
        call_unref(c);
        return;
    }
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_buf;
    call_ref(c);
    if (grpc_call_start_batch(c->gcall, &op, 1, &c->recv_tag, NULL) != GRPC_CALL_OK) {
        call_unref(c);
        fail_early(c, GRPC_STATUS_INTERNAL, "cannot receive the request");
    }
    call_unref(c);
}

static void on_recv(struct rpc_call *c, bool ok)
{
    if (!ok || !c->recv_buf) {
        if (!atomic_load(&c->cancelled))
            fail_early(c, GRPC_STATUS_INVALID_ARGUMENT, "no request message");
        call_unref(c);
        return;
    }
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, c->recv_buf)) {
        fail_early(c, GRPC_STATUS_INTERNAL, "cannot read the request");
        call_unref(c);
        return;
    }
    grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    c->request = protobuf_c_message_unpack(c->route.method->input, NULL, GRPC_SLICE_LENGTH(s),
                                           GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    if (!c->request) {
        char msg[256];
        snprintf(msg, sizeof(msg), "malformed request: not a valid %s message",
                 c->route.method->input->name);
        fail_early(c, GRPC_STATUS_INVALID_ARGUMENT, msg);
    } else if (!c->route.handler) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s/%s is not implemented yet: %s is not built in this io-engine",
                 c->route.service->desc->name, c->route.method->name, c->route.service->capability);
        fail_early(c, GRPC_STATUS_UNIMPLEMENTED, msg);
    } else {
        call_ref(c); /* the handler's reference */
        if (reactor_send(reactor_primary(), dispatch_on_primary, c)) {
            call_unref(c);
            fail_early(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        }
    }
    call_unref(c);
}

static void on_close(struct rpc_call *c)
{
    if (c->close_cancelled)
        atomic_store(&c->cancelled, true);
    call_unref(c);
}

static void shutdown_done_on_primary(void *arg)
{
    (void)arg;
    reactor_timer_cancel(S.grace_timer);
    S.grace_timer = NULL;
    if (S.done)
        S.done(S.done_arg);
}

static void *cq_thread(void *arg)
{
    (void)arg;
    bool server_down = false;
    pthread_setname_np(pthread_self(), "grpc_cq");
    for (;;) {
        gpr_timespec dl = server_down ? gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                     gpr_time_from_millis(50, GPR_TIMESPAN))
                                      : gpr_inf_future(GPR_CLOCK_MONOTONIC);
        grpc_event ev = grpc_completion_queue_next(S.cq, dl, NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            /* Every call object is gone: nothing can start a batch on the cq any more. */
            if (server_down && (atomic_load(&S.live_calls) == 0 || atomic_load(&S.force_exit))) {
                if (atomic_load(&S.live_calls))
                    log_error("gRPC: %d call(s) never finished; leaving them", atomic_load(&S.live_calls));
                grpc_completion_queue_shutdown(S.cq);
                server_down = false; /* drain until GRPC_QUEUE_SHUTDOWN */
            }
            continue;
        }
        struct tag *t = ev.tag;
        switch (t->kind) {
        case TAG_NEW:
            on_new_call(t->call, ev.success);
            break;
        case TAG_RECV:
            on_recv(t->call, ev.success);
            break;
        case TAG_CLOSE:
            on_close(t->call);
            break;
        case TAG_SEND:
            on_send_done(t->call, ev.success);
            break;
        case TAG_SHUTDOWN:
            server_down = true;
            reactor_send(reactor_primary(), shutdown_done_on_primary, NULL);
            break;
        }
    }
    return NULL;
}

int rpc_server_start(const struct rpc_server_opts *o, char *err, size_t errlen)
{
    char addr[128];
    char reason[256];
    S.services = o->services ? o->services : rpc_all_services;
    if (rpc_registry_validate(S.services, reason, sizeof(reason))) {
        snprintf(err, errlen, "gRPC registry: %s", reason);
        return -EINVAL;
    }
    S.api_versions = o->api_versions;
    S.default_timeout_ms = o->default_timeout_ms;
    if (strchr(o->ip, ':'))
        snprintf(addr, sizeof(addr), "[%s]:%u", o->ip, o->port);
    else
        snprintf(addr, sizeof(addr), "%s:%u", o->ip, o->port);

    grpc_arg args[1] = {{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0}};
    grpc_channel_args cargs = {.num_args = 1, .args = args};
    S.cq = grpc_completion_queue_create_for_next(NULL);
    S.server = grpc_server_create(&cargs, NULL);
    grpc_server_register_completion_queue(S.server, S.cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(S.server, addr, creds);
    grpc_server_credentials_release(creds);
    if (port <= 0) {
        snprintf(err, errlen, "cannot listen for gRPC on %s (address in use or not local)", addr);
        grpc_server_destroy(S.server);
        grpc_completion_queue_shutdown(S.cq);
        while (grpc_completion_queue_next(S.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(S.cq);
        S.server = NULL;
        S.cq = NULL;
        return -EADDRINUSE;
    }
    grpc_server_start(S.server);
    for (int i = 0; i < PENDING_REQUESTS; i++)
        request_one();
    if (pthread_create(&S.thread, NULL, cq_thread, NULL)) {
        snprintf(err, errlen, "cannot start the gRPC thread");
        return -EAGAIN;
    }
    S.thread_started = true;
    log_info("gRPC server listening on %s", addr);
    return 0;
}

static void grace_expired(void *arg)
{
    (void)arg;
    S.grace_timer = NULL;
    log_warn("gRPC: cancelling calls still running at shutdown");
    grpc_server_cancel_all_calls(S.server);
}

void rpc_server_shutdown(unsigned grace_ms, void (*done)(void *), void *arg)
{
    S.done = done;
    S.done_arg = arg;
    if (!S.server) {
        if (done)
            done(arg);
        return;
    }
    atomic_store(&S.shutting_down, true);
    S.shutdown_tag.kind = TAG_SHUTDOWN;
    grpc_server_shutdown_and_notify(S.server, S.cq, &S.shutdown_tag);
    S.grace_timer = reactor_timer_start((uint64_t)grace_ms * 1000, 0, grace_expired, NULL);
}

void rpc_server_destroy(void)
{
    /* Called after the reactors stopped: no handler can finish a call any more. */
    atomic_store(&S.force_exit, true);
    if (S.thread_started) {
        pthread_join(S.thread, NULL);
        S.thread_started = false;
    }
    if (S.server) {
        grpc_server_destroy(S.server);
        S.server = NULL;
    }
    if (S.cq) {
        grpc_completion_queue_destroy(S.cq);
        S.cq = NULL;
    }
}
