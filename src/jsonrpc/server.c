#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/reactor.h"
#include "jsonrpc.h"

#define MAX_REQUEST_BYTES (4u << 20)

/* ---- dispatch ---- */

struct jsonrpc_request {
    jsonrpc_done_fn done;
    void *ctx;
};

void jsonrpc_reply(struct jsonrpc_request *req, json_t *result)
{
    if (!result)
        result = json_true();
    req->done(req->ctx, result, 0, NULL);
    json_decref(result);
    free(req);
}

void jsonrpc_error(struct jsonrpc_request *req, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    req->done(req->ctx, NULL, code, msg);
    free(req);
}

void jsonrpc_dispatch(const char *method, json_t *params, jsonrpc_done_fn done, void *ctx)
{
    for (const struct jsonrpc_method *const *m = jsonrpc_methods; *m; m++) {
        if (strcmp((*m)->name, method))
            continue;
        struct jsonrpc_request *req = malloc(sizeof(*req));
        if (!req) {
            done(ctx, NULL, -ENOMEM, "out of memory");
            return;
        }
        req->done = done;
        req->ctx = ctx;
        (*m)->fn(req, params);
        return;
    }
    done(ctx, NULL, JSONRPC_METHOD_NOT_FOUND, "Method not found");
}

/* ---- socket server ---- */

struct conn {
    int fd;
    struct reactor_completion rd, wr;
    bool rd_armed, wr_armed, closing;
    int busy; /* inside one of our callbacks: freeing is deferred to its end */
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_off, out_cap;
    int pending; /* requests whose handler has not answered yet */
    struct conn *next;
};

/* A request in flight keeps its connection alive after a hang-up. */
struct pending_req {
    struct conn *c;
    json_t *id;
};

static struct {
    int fd;
    char path[108];
    struct reactor_completion accept_comp;
    bool accept_armed;
    struct conn *conns;
    bool stopping;
    void (*stopped)(void *);
    void *stopped_arg;
} L = {.fd = -1};

static void check_stopped(void)
{
    if (L.stopping && !L.conns && !L.accept_armed && L.stopped) {
        void (*fn)(void *) = L.stopped;
        L.stopped = NULL;
        fn(L.stopped_arg);
    }
}

static void conn_maybe_free(struct conn *c);
static void conn_arm_read(struct conn *c);

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->rd_armed)
        reactor_poll_cancel(&c->rd);
    if (c->wr_armed)
        reactor_poll_cancel(&c->wr);
    shutdown(c->fd, SHUT_RDWR);
    conn_maybe_free(c);
}

static void conn_maybe_free(struct conn *c)
{
    if (!c->closing || c->pending || c->rd_armed || c->wr_armed || c->busy)
        return;
    for (struct conn **pp = &L.conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
    check_stopped();
}

static void conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (!c->wr_armed && reactor_poll_fd(c->fd, POLLOUT, &c->wr) == 0)
                c->wr_armed = true;
            return;
        }
        conn_close(c); /* peer gone */
        return;
    }
    c->out_off = c->out_len = 0;
}

static void conn_send_json(struct conn *c, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    if (!s)
        return;
    size_t n = strlen(s);
    if (c->out_len + n + 1 > c->out_cap) {
        size_t cap = (c->out_len + n + 1) * 2;
        char *o = realloc(c->out, cap);
        if (!o) {
            free(s);
            conn_close(c);
            return;
        }
        c->out = o;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, n);
    c->out[c->out_len + n] = '\n';
    c->out_len += n + 1;
    free(s);
    conn_flush(c);
}

static json_t *error_obj(int code, const char *message)
{
    return json_pack("{s:i, s:s}", "code", code, "message", message ? message : "");
}

static void send_response(struct conn *c, json_t *id, json_t *result, int code, const char *msg)
{
    json_t *resp = json_pack("{s:s, s:O}", "jsonrpc", "2.0", "id", id ? id : json_null());
    if (result)
        json_object_set(resp, "result", result);
    else
        json_object_set_new(resp, "error", error_obj(code, msg));
    conn_send_json(c, resp);
    json_decref(resp);
}

static void request_done(void *ctx, json_t *result, int code, const char *msg)
{
    struct pending_req *p = ctx;
    struct conn *c = p->c;
    c->pending--;
    if (!c->closing && p->id) /* requests without an id are notifications: no answer */
        send_response(c, p->id, result, code, msg);
    json_decref(p->id);
    free(p);
    conn_maybe_free(c);
}

static void handle_request(struct conn *c, json_t *req)
{
    json_t *id = json_object_get(req, "id");
    const char *method = NULL;
    json_t *params = NULL;
    json_t *version = json_object_get(req, "jsonrpc");
    if (!json_is_object(req) ||
        json_unpack(req, "{s:s, s?o}", "method", &method, "params", &params) ||
        (version && (!json_is_string(version) || strcmp(json_string_value(version), "2.0")))) {
        send_response(c, json_is_object(req) ? id : NULL, NULL, JSONRPC_INVALID_REQUEST,
                      "Invalid request");
        return;
    }
    if (id && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id)) {
        send_response(c, NULL, NULL, JSONRPC_INVALID_REQUEST, "Invalid request id");
        return;
    }
    if (params && !json_is_object(params) && !json_is_array(params)) {
        send_response(c, id, NULL, JSONRPC_INVALID_PARAMS, "params must be an object or array");
        return;
    }
    struct pending_req *p = malloc(sizeof(*p));
    if (!p) {
        send_response(c, id, NULL, JSONRPC_INTERNAL_ERROR, "out of memory");
        return;
    }
    p->c = c;
    p->id = id ? json_incref(id) : NULL;
    c->pending++;
    jsonrpc_dispatch(method, params, request_done, p);
}

/* Consumes every complete JSON value in the input buffer. */
static void process_input(struct conn *c)
{
    size_t off = 0;
    while (off < c->in_len && !c->closing) {
        while (off < c->in_len && strchr(" \t\r\n", c->in[off]))
            off++;
        if (off == c->in_len)
            break;
        json_error_t e;
        json_t *req = json_loadb(c->in + off, c->in_len - off,
                                 JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &e);
        if (!req) {
            if (json_error_code(&e) == json_error_premature_end_of_input)
                break; /* wait for the rest */
            send_response(c, NULL, NULL, JSONRPC_PARSE_ERROR, "Parse error");
            conn_close(c); /* the stream cannot be resynchronised */
            return;
        }
        off += (size_t)e.position;
        handle_request(c, req);
        json_decref(req);
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

static void read_ready(struct conn *c, int res)
{
    if (c->closing || res < 0) {
        conn_close(c);
        return;
    }
    for (;;) {
        if (c->in_cap - c->in_len < 4096) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
            char *n = cap <= MAX_REQUEST_BYTES ? realloc(c->in, cap) : NULL;
            if (!n) {
                send_response(c, NULL, NULL, JSONRPC_INVALID_REQUEST, "request too large");
                conn_close(c);
                return;
            }
            c->in = n;
            c->in_cap = cap;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
        if (n > 0) {
            c->in_len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        /* EOF or error: answer what is complete, then close once those finish. */
        process_input(c);
        conn_close(c);
        return;
    }
    process_input(c);
    if (!c->closing)
        conn_arm_read(c);
}

static void on_readable(struct reactor_completion *rc, int res, uint32_t flags)
{
    (void)flags;
    struct conn *c = (struct conn *)((char *)rc - offsetof(struct conn, rd));
    c->rd_armed = false;
    c->busy++;
    read_ready(c, res);
    c->busy--;
    conn_maybe_free(c);
}

static void on_writable(struct reactor_completion *wc, int res, uint32_t flags)
{
    (void)flags;
    struct conn *c = (struct conn *)((char *)wc - offsetof(struct conn, wr));
    c->wr_armed = false;
    c->busy++;
    if (c->closing || res < 0)
        conn_close(c);
    else
        conn_flush(c);
    c->busy--;
    conn_maybe_free(c);
}

static void conn_arm_read(struct conn *c)
{
    if (reactor_poll_fd(c->fd, POLLIN, &c->rd) == 0)
        c->rd_armed = true;
    else
        conn_close(c);
}

static void arm_accept(void);

static void on_accept(struct reactor_completion *ac, int res, uint32_t flags)
{
    (void)ac;
    (void)flags;
    L.accept_armed = false;
    if (L.stopping) {
        close(L.fd);
        L.fd = -1;
        check_stopped();
        return;
    }
    if (res >= 0) {
        for (;;) {
            int fd = accept4(L.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0)
                break;
            struct conn *c = calloc(1, sizeof(*c));
            if (!c) {
                close(fd);
                continue;
            }
            c->fd = fd;
            c->rd.cb = on_readable;
            c->wr.cb = on_writable;
            c->next = L.conns;
            L.conns = c;
            conn_arm_read(c);
        }
    }
    arm_accept();
}

static void arm_accept(void)
{
    L.accept_comp.cb = on_accept;
    if (reactor_poll_fd(L.fd, POLLIN, &L.accept_comp) == 0)
        L.accept_armed = true;
    else
        log_error("JSON-RPC: cannot watch the listening socket");
}

/* A socket file left by a dead process is removed; one still answered is in use. */
static int clear_stale_socket(const struct sockaddr_un *sa)
{
    struct stat st;
    if (lstat(sa->sun_path, &st))
        return 0;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    close(fd);
    if (rc == 0)
        return -EADDRINUSE;
    unlink(sa->sun_path);
    return 0;
}

int jsonrpc_server_start(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "JSON-RPC socket path too long: %s", path);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    int rc = clear_stale_socket(&sa);
    if (rc) {
        snprintf(err, errlen, "JSON-RPC socket %s: %s", path,
                 rc == -EADDRINUSE ? "already served by another process"
                 : rc == -EEXIST   ? "exists and is not a socket"
                                   : strerror(-rc));
        return rc;
    }
    L.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (L.fd < 0 || bind(L.fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(L.fd, 64)) {
        rc = -errno;
        snprintf(err, errlen, "cannot listen on JSON-RPC socket %s: %s", path, strerror(errno));
        if (L.fd >= 0)
            close(L.fd);
        L.fd = -1;
        return rc;
    }
    strcpy(L.path, path);
    L.stopping = false;
    arm_accept();
    log_info("JSON-RPC server listening on %s", path);
    return 0;
}

void jsonrpc_server_stop(void (*stopped)(void *), void *arg)
{
    L.stopped = stopped;
    L.stopped_arg = arg;
    if (L.fd < 0) {
        L.stopping = true;
        check_stopped();
        return;
    }
    L.stopping = true;
    if (L.accept_armed) {
        reactor_poll_cancel(&L.accept_comp);
    } else {
        close(L.fd);
        L.fd = -1;
    }
    /* The listening fd stays open until the cancelled poll has completed. */
    unlink(L.path);
    for (struct conn *c = L.conns, *next; c; c = next) {
        next = c->next;
        conn_close(c);
    }
    check_stopped();
}
