/* The YAML configuration file (-y) and pool file (-P), behaviour §1.
 *
 * Both are read into JSON trees (jansson) so later subsystems look their options up
 * without another parser. Top-level and known sections reject unknown keys, as upstream
 * does; a missing or empty -y file means defaults; a -P file must exist and parse. */
#pragma once
#include <jansson.h>
#include <stddef.h>

struct ioe_config {
    json_t *config; /* object, {} when no -y */
    json_t *pools;  /* array of {name, disks[], backend}, [] when no -P */
};

int ioe_config_load(const char *config_path, const char *pool_path, struct ioe_config *out,
                    char *err, size_t errlen);
void ioe_config_free(struct ioe_config *c);

/* YAML text → JSON value (scalars that look like integers/booleans become numbers/
 * booleans). Returns NULL with a message in err. Exposed for tests. */
json_t *ioe_yaml_to_json(const char *text, size_t len, char *err, size_t errlen);
/* Validates a parsed config / pool tree. 0 or -EINVAL with a message. */
int ioe_config_validate(json_t *config, char *err, size_t errlen);
int ioe_pools_validate(json_t *pools_doc, char *err, size_t errlen);
