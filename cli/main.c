/* io-engine-client: command-line client for the io-engine gRPC API.
 *
 * main() parses the whole command line against the command tree (global options may
 * appear anywhere, command options after their command), prints help/usage, then runs
 * the selected leaf command. To add a command group, define a `struct cli_cmd` in a new
 * cmd_*.c file, declare it in cli.h and list it in `top_level` below. */
#include <errno.h>
#include <grpc/grpc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/cli_args.h"
#include "endpoint.h"
#include "google/protobuf/empty.pb-c.h"
#include "grpc/client.h"
#include "output.h"
#include "pbjson.h"
#include "version.h"

#define PROG "io-engine-client"

static const struct cli_cmd *const top_level[] = {
    &cli_cmd_host,
    &cli_cmd_bdev,
    &cli_cmd_jsonrpc,
    &cli_cmd_pool, &cli_cmd_replica,
    &cli_cmd_snapshot,
    &cli_cmd_nvmf,
    NULL,
};

static const struct cli_cmd root = {
    .name = PROG,
    .summary = "command-line client for the io-engine gRPC API",
    .description = "Queries and drives an io-engine (storage data-plane daemon) over gRPC.",
    .subs = top_level,
};

enum { G_BIND, G_OUTPUT, G_TIMEOUT, G_HELP, G_VERSION };
static const struct cli_opt global_opts[] = {
    [G_BIND] = {"bind", 'b', "ENDPOINT",
                "io-engine gRPC endpoint: HOST[:PORT], [IPV6]:PORT, http://HOST:PORT or\n"
                "unix:PATH; the port defaults to 10124 (default " CLI_DEFAULT_ENDPOINT ")"},
    [G_OUTPUT] = {"output", 'o', "FORMAT", "output format: table or json (default table)"},
    [G_TIMEOUT] = {"timeout", 't', "DURATION",
                   "deadline of each call, e.g. 10s, 500ms, 1m (default 10s)"},
    [G_HELP] = {"help", 'h', NULL, "print help (of the command it follows) and exit"},
    [G_VERSION] = {"version", 'V', NULL, "print the version and exit"},
    {0},
};

static const char exit_status_help[] =
    "Exit status:\n"
    "  0  success\n"
    "  1  the io-engine answered with a gRPC error (printed as STATUS: details)\n"
    "  2  the io-engine could not be reached or did not answer within the timeout\n"
    "  3  usage error: unknown command or option, missing or bad argument\n"
    "  4  local failure (out of memory, cannot write the output)\n";

#ifdef __SANITIZE_ADDRESS__
/* LeakSanitizer hook (sanitized builds only). c-ares 1.18, which gRPC uses for DNS, leaks
 * a few bytes per "localhost" lookup inside ares_getaddrinfo (fixed in c-ares 1.19); that
 * is not ours to fix and would fail every sanitized run against -b localhost. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libcares.so\n";
}
/* ...and without the "Suppressions used" report cluttering stderr. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "print_suppressions=0";
}
#endif

/* ---- messages ---------------------------------------------------------------------- */

void cli_error(const struct cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", ctx->prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", ctx->prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n",
            ctx->cmd_path[0] ? ctx->cmd_path : ctx->prog);
    return CLI_EXIT_USAGE;
}

const char *cli_opt(const struct cli_ctx *ctx, const char *name)
{
    if (!ctx->cmd || !ctx->cmd->opts)
        return NULL;
    for (size_t i = 0; ctx->cmd->opts[i].name; i++)
        if (!strcmp(ctx->cmd->opts[i].name, name))
            return ctx->opt_val[i];
    return NULL;
}

/* ---- help -------------------------------------------------------------------------- */

/* Prints an option list; continuation lines of a help text are indented under it. */
static void print_opts(FILE *out, const struct cli_opt *opts)
{
    for (size_t i = 0; opts[i].name; i++) {
        char left[64];
        snprintf(left, sizeof(left), "%c%c%s--%s%s%s", opts[i].short_name ? '-' : ' ',
                 opts[i].short_name ? opts[i].short_name : ' ', opts[i].short_name ? ", " : "  ",
                 opts[i].name, opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
        fprintf(out, "  %-24s", left);
        if (strlen(left) > 24)
            fprintf(out, "\n  %-24s", "");
        for (const char *h = opts[i].help; *h; h++) {
            fputc(*h, out);
            if (*h == '\n')
                fprintf(out, "  %-24s", "");
        }
        fputc('\n', out);
    }
}

static void print_help(FILE *out, const struct cli_cmd *cmd, const char *path)
{
    if (cmd->subs)
        fprintf(out, "Usage: %s [OPTIONS] COMMAND%s\n\n", path, cmd == &root ? " [ARGS]" : "");
    else
        fprintf(out, "Usage: %s [OPTIONS]%s%s\n\n", path, cmd->args_usage ? " " : "",
                cmd->args_usage ? cmd->args_usage : "");
    fprintf(out, "%s\n", cmd->description ? cmd->description : cmd->summary);
    if (cmd->subs) {
        fputs("\nCommands:\n", out);
        for (size_t i = 0; cmd->subs[i]; i++)
            fprintf(out, "  %-24s%s\n", cmd->subs[i]->name, cmd->subs[i]->summary);
    }
    if (cmd->opts && cmd->opts[0].name) {
        fputs("\nOptions:\n", out);
        print_opts(out, cmd->opts);
    }
    fputs(cmd == &root ? "\nOptions (accepted anywhere on the line):\n"
                       : "\nGlobal options (accepted anywhere on the line):\n",
          out);
    print_opts(out, global_opts);
    if (cmd == &root)
        fprintf(out, "\nRun '%s COMMAND --help' for the options of a command.\n\n%s", PROG,
                exit_status_help);
}

/* ---- command-line parsing ---------------------------------------------------------- */

/* Finds the option spelled by `tok` ("--name", "--name=v", "-x", "-xVALUE") in opts.
 * Sets *inline_val to the attached value, if any. Returns the index or -1. */
static int match_opt(const struct cli_opt *opts, const char *tok, const char **inline_val)
{
    *inline_val = NULL;
    if (!opts)
        return -1;
    for (int i = 0; opts[i].name; i++) {
        if (tok[1] == '-') {
            size_t n = strlen(opts[i].name);
            if (strncmp(tok + 2, opts[i].name, n))
                continue;
            if (tok[2 + n] == '=') {
                *inline_val = tok + 3 + n;
                return i;
            }
            if (!tok[2 + n])
                return i;
        } else if (opts[i].short_name && tok[1] == opts[i].short_name) {
            if (tok[2] && !opts[i].arg) /* "-ab" style flag clusters are not supported */
                continue;
            if (tok[2])
                *inline_val = tok + 2;
            return i;
        }
    }
    return -1;
}

static int set_global(struct cli_ctx *ctx, int which, const char *val, bool *help,
                      bool *version)
{
    char err[160];
    uint64_t ms;
    switch (which) {
    case G_BIND:
        if (cli_endpoint_normalize(val, CLI_DEFAULT_PORT, ctx->endpoint, sizeof(ctx->endpoint),
                                   err, sizeof(err)))
            return cli_usage_error(ctx, "invalid --bind '%s': %s", val, err);
        return 0;
    case G_OUTPUT:
        if (!strcmp(val, "table"))
            ctx->format = CLI_FMT_TABLE;
        else if (!strcmp(val, "json"))
            ctx->format = CLI_FMT_JSON;
        else
            return cli_usage_error(ctx, "invalid --output '%s': expected table or json", val);
        return 0;
    case G_TIMEOUT:
        if (ioe_parse_duration_ms(val, &ms) || ms == 0 || ms > UINT32_MAX)
            return cli_usage_error(ctx,
                                   "invalid --timeout '%s': expected a positive duration such "
                                   "as 10s, 500ms or 1m",
                                   val);
        ctx->timeout_ms = (unsigned)ms;
        return 0;
    case G_HELP:
        *help = true;
        return 0;
    case G_VERSION:
        *version = true;
        return 0;
    }
    return 0;
}

static void append_path(struct cli_ctx *ctx, const char *name)
{
    size_t n = strlen(ctx->cmd_path);
    snprintf(ctx->cmd_path + n, sizeof(ctx->cmd_path) - n, " %s", name);
}

static void list_subs(const struct cli_cmd *node, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; node->subs[i] && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", node->subs[i]->name);
}

/* Returns -1 to go on and run ctx->cmd, otherwise the exit status. */
static int parse(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct cli_cmd *node = &root;
    bool help = false, version = false, only_pos = false;
    snprintf(ctx->cmd_path, sizeof(ctx->cmd_path), "%s", PROG);

    for (int i = 1; i < argc; i++) {
        const char *tok = argv[i];
        if (!only_pos && !strcmp(tok, "--")) {
            only_pos = true;
            continue;
        }
        if (!only_pos && tok[0] == '-' && tok[1]) {
            const char *val;
            int g = match_opt(global_opts, tok, &val);
            int l = g < 0 ? match_opt(node->opts, tok, &val) : -1;
            if (g < 0 && l < 0)
                return cli_usage_error(ctx, "unknown option '%s'%s", tok,
                                       node->subs ? "" : " for this command");
            const struct cli_opt *o = g >= 0 ? &global_opts[g] : &node->opts[l];
            if (!o->arg && val)
                return cli_usage_error(ctx, "option --%s takes no value", o->name);
            if (o->arg && !val) {
                if (i + 1 >= argc)
                    return cli_usage_error(ctx, "option --%s needs a value (%s)", o->name, o->arg);
                val = argv[++i];
            }
            if (g >= 0) {
                int rc = set_global(ctx, g, val, &help, &version);
                if (rc)
                    return rc;
            } else {
                ctx->opt_val[l] = o->arg ? val : "";
            }
            continue;
        }
        if (node->subs) { /* a group: this word selects the sub-command */
            const struct cli_cmd *next = NULL;
            for (size_t k = 0; node->subs[k]; k++)
                if (!strcmp(node->subs[k]->name, tok))
                    next = node->subs[k];
            if (!next) {
                char names[256];
                list_subs(node, names, sizeof(names));
                return cli_usage_error(ctx, "unknown command '%s' (expected one of: %s)", tok,
                                       names);
            }
            node = next;
            append_path(ctx, node->name);
            if (!node->subs && node->opts) {
                size_t n = 0;
                while (node->opts[n].name)
                    n++;
                ctx->opt_val = xcalloc(n, sizeof(char *));
            }
            continue;
        }
        if (ctx->n_pos >= node->max_pos)
            return cli_usage_error(ctx, "unexpected argument '%s'", tok);
        ctx->pos[ctx->n_pos++] = argv[i];
    }

    if (help) {
        print_help(stdout, node, ctx->cmd_path);
        return CLI_EXIT_OK;
    }
    if (version) {
        printf("%s %s (git %s)\n", PROG, IO_ENGINE_VERSION, IO_ENGINE_GIT_REV);
        return CLI_EXIT_OK;
    }
    if (node == &root) {
        print_help(stderr, node, ctx->cmd_path);
        return CLI_EXIT_USAGE;
    }
    if (node->subs) {
        char names[256];
        list_subs(node, names, sizeof(names));
        return cli_usage_error(ctx, "missing command (one of: %s)", names);
    }
    if (ctx->n_pos < node->min_pos)
        return cli_usage_error(ctx, "missing argument: expected %s", node->args_usage);
    ctx->cmd = node;
    return -1;
}

/* ---- calling the daemon ------------------------------------------------------------ */

static void fmt_duration(unsigned ms, char *buf, size_t len)
{
    if (ms % 1000)
        snprintf(buf, len, "%ums", ms);
    else
        snprintf(buf, len, "%us", ms / 1000);
}

int cli_call(struct cli_ctx *ctx, const char *path, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply)
{
    *reply = NULL;
    if (!ctx->client && !(ctx->client = rpc_client_new(ctx->endpoint)))
        cli_oom();
    Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
    struct rpc_result res;
    int rc = rpc_client_call(ctx->client, path, req ? req : &empty.base, reply_desc,
                             ctx->timeout_ms, &res);
    if (rc < 0) {
        cli_error(ctx, "cannot call %s: %s", path, strerror(-rc));
        rpc_result_free(&res);
        return CLI_EXIT_LOCAL;
    }
    int status = CLI_EXIT_OK;
    const char *details = res.details && *res.details ? res.details : "(no details)";
    char dur[32];
    switch (res.status) {
    case GRPC_STATUS_OK:
        *reply = res.reply;
        res.reply = NULL;
        break;
    /* gRPC gives no other signal that the connection failed: UNAVAILABLE is what a
     * refused/reset connection or an unresolvable name produce, DEADLINE_EXCEEDED what
     * an unanswered connect (or a hung daemon) produces. Both mean "retry later". */
    case GRPC_STATUS_UNAVAILABLE:
        cli_error(ctx, "cannot reach io-engine at %s: %s: %s", ctx->endpoint,
                  rpc_status_name(res.status), details);
        status = CLI_EXIT_UNREACHABLE;
        break;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        fmt_duration(ctx->timeout_ms, dur, sizeof(dur));
        cli_error(ctx, "no answer from io-engine at %s within %s: %s: %s", ctx->endpoint, dur,
                  rpc_status_name(res.status), details);
        status = CLI_EXIT_UNREACHABLE;
        break;
    default:
        cli_error(ctx, "%s: %s", rpc_status_name(res.status), details);
        status = CLI_EXIT_RPC;
        break;
    }
    rpc_result_free(&res);
    return status;
}

int cli_call_emit(struct cli_ctx *ctx, const char *service, const char *method,
                  const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
                  void (*table_view)(const ProtobufCMessage *reply))
{
    char path[160];
    snprintf(path, sizeof(path), "/%s/%s", service, method);
    ProtobufCMessage *reply;
    int rc = cli_call(ctx, path, req, reply_desc, &reply);
    if (rc)
        return rc;
    if (ctx->format == CLI_FMT_JSON) {
        if (print_json(pbjson_message(reply))) {
            cli_error(ctx, "cannot encode or write the JSON output");
            rc = CLI_EXIT_LOCAL;
        }
    } else if (table_view) {
        table_view(reply);
    }
    protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

int main(int argc, char **argv)
{
    struct cli_ctx ctx = {
        .prog = PROG,
        .endpoint = CLI_DEFAULT_ENDPOINT,
        .timeout_ms = CLI_DEFAULT_TIMEOUT_MS,
        .format = CLI_FMT_TABLE,
    };
    ctx.pos = xcalloc((size_t)argc, sizeof(char *));
    int rc = parse(&ctx, argc, argv);
    if (rc < 0) {
        grpc_init();
        rc = ctx.cmd->run(&ctx);
        rpc_client_free(ctx.client);
        grpc_shutdown();
        /* A full disk or closed pipe must not look like success to a script. */
        if ((fflush(stdout) || ferror(stdout)) && rc == CLI_EXIT_OK) {
            cli_error(&ctx, "cannot write the output: %s", strerror(errno));
            rc = CLI_EXIT_LOCAL;
        }
    }
    free(ctx.opt_val);
    free(ctx.pos);
    return rc;
}
