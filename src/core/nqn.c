#include "nqn.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

static int fmt(char *out, size_t len, const char *a, const char *b)
{
    int n = snprintf(out, len, "%s%s", a, b);
    if (n < 0 || (size_t)n >= len || n > NQN_MAX_LEN)
        return -ENAMETOOLONG;
    return 0;
}

int nqn_for_target(const char *name, char *out, size_t len)
{
    if (!name || !*name)
        return -EINVAL;
    return fmt(out, len, NQN_PREFIX ":", name);
}

int nqn_for_host(const char *node_name, char *out, size_t len)
{
    const char *env = getenv("HOSTNQN");
    if (env && *env) {
        if (!nqn_is_valid(env))
            return -EINVAL;
        return fmt(out, len, env, "");
    }
    return fmt(out, len, NQN_PREFIX ":node-name:", node_name);
}

bool nqn_is_valid(const char *nqn)
{
    size_t n = strlen(nqn);
    if (n < 12 || n > NQN_MAX_LEN || strncmp(nqn, "nqn.", 4))
        return false;
    /* nqn.yyyy-mm. */
    const char *p = nqn + 4;
    for (int i = 0; i < 4; i++)
        if (!isdigit((unsigned char)p[i]))
            return false;
    if (p[4] != '-' || !isdigit((unsigned char)p[5]) || !isdigit((unsigned char)p[6]))
        return false;
    int month = (p[5] - '0') * 10 + (p[6] - '0');
    if (month < 1 || month > 12 || p[7] != '.')
        return false;
    p += 8;
    if (!strncmp(nqn, "nqn.2014-08.org.nvmexpress:uuid:", 32)) {
        uuid_t u;
        return strlen(nqn + 32) == 36 && uuid_parse(nqn + 32, u) == 0;
    }
    /* reverse domain: labels of [A-Za-z0-9-] separated by dots, up to ':' or the end */
    const char *end = strchr(p, ':');
    size_t dlen = end ? (size_t)(end - p) : strlen(p);
    if (!dlen || p[0] == '.' || p[dlen - 1] == '.' || memmem(p, dlen, "..", 2))
        return false;
    for (size_t i = 0; i < dlen; i++)
        if (!isalnum((unsigned char)p[i]) && p[i] != '-' && p[i] != '.')
            return false;
    for (const unsigned char *c = (const unsigned char *)nqn; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return false;
    return !end || end[1];
}

const char *nqn_target_name(const char *nqn)
{
    size_t n = strlen(NQN_PREFIX ":");
    if (strncmp(nqn, NQN_PREFIX ":", n) || !nqn[n])
        return NULL;
    return nqn + n;
}
