/* Device URI parsing ("scheme://host:port/path?k=v&..."), behaviour §2. Pure, so the
 * device layer, the nexus and tests share one parser. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define URI_MAX_PARAMS 16

struct uri_param {
    char *key;
    char *value; /* percent-decoded; "" when given as "k" or "k=" */
};

struct uri {
    char *scheme; /* lower-cased */
    char *host;   /* "" when absent; IPv6 without brackets */
    int port;     /* -1 when absent */
    char *path;   /* percent-decoded, starts with '/' or is "" */
    struct uri_param params[URI_MAX_PARAMS];
    int n_params;
};

/* Returns 0, or -EINVAL with a reason in err (may be NULL). */
int uri_parse(const char *s, struct uri *u, char *err, size_t errlen);
void uri_free(struct uri *u);
/* Value of a query parameter, or NULL when absent. */
const char *uri_param(const struct uri *u, const char *key);
/* First parameter not in the NULL-terminated allowed list, or NULL. */
const char *uri_unknown_param(const struct uri *u, const char *const *allowed);
/* True if s is an absolute URI (has a "scheme://" prefix). */
bool uri_has_scheme(const char *s);
