#include "nvme_ctrlr_registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct nvme_ctrlr_entry *g_head;

void nvme_ctrlr_registry_add(struct nvme_ctrlr_entry *e)
{
    struct nvme_ctrlr_entry **pp = &g_head;
    while (*pp)
        pp = &(*pp)->next;
    e->next = NULL;
    *pp = e;
}

void nvme_ctrlr_registry_remove(struct nvme_ctrlr_entry *e)
{
    for (struct nvme_ctrlr_entry **pp = &g_head; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            return;
        }
}

int nvme_ctrlr_registry_list(struct nvme_ctrlr_info **out, size_t *n)
{
    size_t count = 0;
    for (struct nvme_ctrlr_entry *e = g_head; e; e = e->next)
        count++;
    *out = calloc(count ? count : 1, sizeof(**out));
    if (!*out)
        return -ENOMEM;
    size_t i = 0;
    for (struct nvme_ctrlr_entry *e = g_head; e; e = e->next)
        e->describe(e, &(*out)[i++]);
    *n = count;
    return 0;
}

int nvme_ctrlr_registry_find(const char *name, struct nvme_ctrlr_info *out)
{
    for (struct nvme_ctrlr_entry *e = g_head; e; e = e->next) {
        e->describe(e, out);
        if (!strcmp(out->name, name))
            return 0;
    }
    return -ENOENT;
}
