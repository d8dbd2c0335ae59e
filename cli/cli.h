/* io-engine-client: shared types for the command tree, the global context and the
 * helpers every subcommand uses to call the daemon and report failures.
 *
 * A command is a node in a small tree: a group (e.g. "host") has sub-commands, a leaf
 * (e.g. "host info", "jsonrpc") has a run() function. main.c parses the whole command
 * line against that tree, so a new subcommand only needs a `struct cli_cmd` entry. */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

/* Exit statuses; documented in --help and docs/cli.md, so scripts may rely on them. */
enum cli_exit {
    CLI_EXIT_OK = 0,          /* success */
    CLI_EXIT_RPC = 1,         /* the daemon answered with a gRPC error status */
    CLI_EXIT_UNREACHABLE = 2, /* the daemon could not be reached or did not answer in time */
    CLI_EXIT_USAGE = 3,       /* bad command line: unknown command/option, bad argument */
    CLI_EXIT_LOCAL = 4,       /* local failure (out of memory, cannot write output, ...) */
};

enum cli_format { CLI_FMT_TABLE, CLI_FMT_JSON };

#define CLI_DEFAULT_PORT 10124
#define CLI_DEFAULT_ENDPOINT "127.0.0.1:10124"
#define CLI_DEFAULT_TIMEOUT_MS 10000u

struct rpc_client;

/* Everything a subcommand needs: where the daemon is, how to print, and the parsed
 * arguments of the selected leaf command. */
struct cli_ctx {
    const char *prog;      /* program name used in messages */
    char cmd_path[256];    /* "io-engine-client host info": for usage lines and hints */
    char endpoint[512];    /* normalised gRPC target */
    unsigned timeout_ms;   /* deadline of each gRPC call */
    enum cli_format format;
    struct rpc_client *client; /* created on the first call */

    const struct cli_cmd *cmd; /* the leaf being run */
    const char **opt_val;      /* per cmd->opts entry: value, "" for a set flag, NULL if absent */
    char **pos;                /* positional arguments of the leaf */
    size_t n_pos;
};

/* A command-specific option. arg == NULL makes it a flag. */
struct cli_opt {
    const char *name;  /* long name without "--" */
    char short_name;   /* 0 when there is none */
    const char *arg;   /* metavariable shown in help, NULL for a flag */
    const char *help;
};

struct cli_cmd {
    const char *name;
    const char *summary;        /* one line for the parent's command list */
    const char *args_usage;     /* positional synopsis, e.g. "METHOD [PARAMS]" */
    const char *description;    /* longer help text, may be NULL */
    const struct cli_opt *opts; /* leaves only; ends with name == NULL; may be NULL */
    size_t min_pos, max_pos;    /* accepted number of positional arguments */
    int (*run)(struct cli_ctx *ctx); /* NULL for a group */
    const struct cli_cmd *const *subs; /* NULL-terminated, groups only */
};

/* Command groups, each defined in its cmd_*.c file and listed in main.c. */
extern const struct cli_cmd cli_cmd_host;
extern const struct cli_cmd cli_cmd_bdev;
extern const struct cli_cmd cli_cmd_jsonrpc;
extern const struct cli_cmd cli_cmd_pool, cli_cmd_replica;
extern const struct cli_cmd cli_cmd_snapshot;
extern const struct cli_cmd cli_cmd_nvmf;

/* Value of the leaf's option `name` (see cli_ctx.opt_val), NULL if not given. */
const char *cli_opt(const struct cli_ctx *ctx, const char *name);
static inline bool cli_flag(const struct cli_ctx *ctx, const char *name)
{
    return cli_opt(ctx, name) != NULL;
}

/* Calls "/pkg.Service/Method" on the daemon. On success stores the decoded reply (free
 * with protobuf_c_message_free_unpacked) and returns CLI_EXIT_OK; otherwise prints the
 * reason on stderr and returns the exit status to use. A NULL req sends an empty message
 * (google.protobuf.Empty). */
int cli_call(struct cli_ctx *ctx, const char *path, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply);

/* The shared tail of a command: calls "/<service>/<method>", then prints the reply —
 * with -o json the whole message as it came (nothing a table leaves out is lost), else
 * table_view(reply) (NULL: print nothing). Frees the reply; returns the exit status. */
int cli_call_emit(struct cli_ctx *ctx, const char *service, const char *method,
                  const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
                  void (*table_view)(const ProtobufCMessage *reply));

/* Prints "PROG: message" on stderr (plus a hint to --help) and returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "PROG: message" on stderr. */
void cli_error(const struct cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
