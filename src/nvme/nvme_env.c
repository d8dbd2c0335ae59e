/* Durations from the environment, as upstream takes them: "110s", "500ms", "200us",
 * "10ns", "1m", or a bare number in the variable's own unit (NVME_TIMEOUT in
 * microseconds, NVME_KATO in milliseconds, ...). A value that does not parse is reported
 * and the default kept. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "nvme/nvme_internal.h"

uint64_t nvme_env_duration_ns(const char *name, uint64_t dflt_ns, uint64_t bare_unit_ns)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt_ns;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v || *v == '-') {
        log_warn("%s=%s is not a duration: using %llu ms", name, v,
                 (unsigned long long)(dflt_ns / 1000000));
        return dflt_ns;
    }
    while (isspace((unsigned char)*end))
        end++;
    uint64_t unit;
    if (!*end)
        unit = bare_unit_ns;
    else if (!strcmp(end, "ns"))
        unit = 1;
    else if (!strcmp(end, "us"))
        unit = 1000;
    else if (!strcmp(end, "ms"))
        unit = 1000000;
    else if (!strcmp(end, "s"))
        unit = 1000000000ull;
    else if (!strcmp(end, "m") || !strcmp(end, "min"))
        unit = 60000000000ull;
    else {
        log_warn("%s=%s has an unknown unit: using %llu ms", name, v,
                 (unsigned long long)(dflt_ns / 1000000));
        return dflt_ns;
    }
    if (n > UINT64_MAX / unit)
        return UINT64_MAX;
    return n * unit;
}
