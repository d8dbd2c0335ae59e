/* The discovery log page (NVMe-oF 1.1 §5.4): one entry per NVM subsystem the host may
 * connect to, at the address and port it listens on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvmf/nvme_spec.h"
#include "nvmf/nvmf_internal.h"

#define HDR 1024
#define ENTRY 1024

size_t nvmf_discovery_log(const char *hostnqn, uint8_t **out)
{
    size_t n = 0;
    for (struct nvmf_subsys *s = nvmf_subsys_first(); s; s = s->next)
        if (!s->discovery && !s->stopping && nvmf_subsys_host_allowed(s, hostnqn))
            n++;
    size_t len = HDR + n * ENTRY;
    uint8_t *d = calloc(1, len);
    if (!d) {
        *out = NULL;
        return 0;
    }
    le64_put(d, nvmf_discovery_genctr());
    le64_put(d + 8, n);
    le16_put(d + 16, 0); /* record format 0 */
    const char *addr = nvmf_target_addr();
    bool v6 = strchr(addr, ':') != NULL;
    size_t i = 0;
    for (struct nvmf_subsys *s = nvmf_subsys_first(); s && i < n; s = s->next) {
        if (s->discovery || s->stopping || !nvmf_subsys_host_allowed(s, hostnqn))
            continue;
        uint8_t *e = d + HDR + i++ * ENTRY;
        e[0] = 3;              /* TRTYPE: TCP */
        e[1] = v6 ? 2 : 1;     /* ADRFAM */
        e[2] = 2;              /* SUBTYPE: NVM subsystem */
        e[3] = 0x2;            /* TREQ: secure channel not required */
        le16_put(e + 4, s->port == nvmf_target_replica_port() ? 0 : 1); /* PORTID */
        le16_put(e + 6, 0xFFFF);                                       /* dynamic controllers */
        le16_put(e + 8, 32);                                           /* ASQSZ */
        char port[8];
        snprintf(port, sizeof(port), "%u", (unsigned)s->port);
        memcpy(e + 32, port, strlen(port));
        memcpy(e + 256, s->nqn, strlen(s->nqn));
        memcpy(e + 512, addr, strlen(addr) < 256 ? strlen(addr) : 255);
        e[768] = 0; /* TSAS: no security */
    }
    *out = d;
    return len;
}
