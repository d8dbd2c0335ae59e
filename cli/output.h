/* Output helpers shared by all subcommands: an aligned text table, human-readable sizes
 * and printing of one JSON document. */
#pragma once
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

struct table;

/* headers: NULL-terminated column names, printed upper-case as given. A leading '>'
 * right-aligns the column (for numbers); the '>' itself is not printed. */
struct table *table_new(const char *const *headers);
/* Printed instead of the table when it has no rows, e.g. "No NVMe controllers found". */
void table_set_empty(struct table *t, const char *msg);
/* Starts a new row; the following table_cell*() calls fill it from the left. */
void table_row(struct table *t);
void table_cell(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A string cell; NULL or "" is shown as "-" so columns stay readable. */
void table_cell_str(struct table *t, const char *s);
void table_print(const struct table *t, FILE *out);
void table_free(struct table *t);

/* "931.5 GiB"-style binary-unit size; plain "512 B" below 1 KiB. */
void human_size(uint64_t bytes, char *buf, size_t len);
/* "4MiB", "1G", "4194304": bytes with an optional binary suffix (K/M/G/T, with or
 * without "iB"/"B"; all powers of 1024). 0 or -1. */
int cli_parse_size(const char *s, uint64_t *out);
/* Splits a comma-separated list (--hosts NQN,NQN) into *out, an allocated NULL-terminated
 * array of pointers into a private copy (free it with cli_list_free). Empty parts are
 * skipped; s == NULL gives an empty list. 0 or -1 (no memory). */
int cli_split_list(const char *s, char ***out, size_t *n);
void cli_list_free(char **v);

/* Writes `j` (pretty, followed by a newline) to stdout and drops the reference.
 * Returns 0, or -1 when it could not be written. */
int print_json(json_t *j);

/* Allocation failure in the CLI: report and exit with CLI_EXIT_LOCAL. */
_Noreturn void cli_oom(void);
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);
