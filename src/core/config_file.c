#include "config_file.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

static int fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static json_t *scalar_to_json(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (plain) {
        if (!n || !strcmp(v, "~") || !strcasecmp(v, "null"))
            return json_null();
        if (!strcasecmp(v, "true"))
            return json_true();
        if (!strcasecmp(v, "false"))
            return json_false();
        char *end;
        errno = 0;
        long long i = strtoll(v, &end, 0);
        if (*v && !*end && errno != ERANGE) /* out-of-range numbers stay text */
            return json_integer(i);
    }
    return json_stringn(v, n);
}

/* Recursive descent over libyaml's event stream. */
static json_t *parse_node(yaml_parser_t *p, yaml_event_t *ev, char *err, size_t errlen, int depth);

static json_t *next_node(yaml_parser_t *p, char *err, size_t errlen, int depth, bool *end)
{
    yaml_event_t ev;
    if (!yaml_parser_parse(p, &ev)) {
        fail(err, errlen, "YAML error at line %zu: %s", p->problem_mark.line + 1,
             p->problem ? p->problem : "syntax");
        return NULL;
    }
    if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
        *end = true;
        yaml_event_delete(&ev);
        return NULL;
    }
    json_t *j = parse_node(p, &ev, err, errlen, depth);
    yaml_event_delete(&ev);
    return j;
}

static json_t *parse_node(yaml_parser_t *p, yaml_event_t *ev, char *err, size_t errlen, int depth)
{
    if (depth > 32) {
        fail(err, errlen, "YAML nested too deeply");
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return scalar_to_json(ev);
    case YAML_ALIAS_EVENT:
        fail(err, errlen, "YAML aliases are not supported");
        return NULL;
    case YAML_SEQUENCE_START_EVENT: {
        json_t *arr = json_array();
        for (;;) {
            bool end = false;
            json_t *item = next_node(p, err, errlen, depth + 1, &end);
            if (end)
                return arr;
            if (!item) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, item);
        }
    }
    case YAML_MAPPING_START_EVENT: {
        json_t *obj = json_object();
        for (;;) {
            bool end = false;
            json_t *key = next_node(p, err, errlen, depth + 1, &end);
            if (end)
                return obj;
            if (!key || !json_is_string(key)) {
                if (key)
                    fail(err, errlen, "YAML mapping keys must be strings");
                json_decref(key);
                json_decref(obj);
                return NULL;
            }
            json_t *val = next_node(p, err, errlen, depth + 1, &end);
            if (!val || end) {
                if (end)
                    fail(err, errlen, "YAML mapping key without value");
                json_decref(key);
                json_decref(obj);
                return NULL;
            }
            if (json_object_get(obj, json_string_value(key))) {
                fail(err, errlen, "duplicate key '%s'", json_string_value(key));
                json_decref(key);
                json_decref(val);
                json_decref(obj);
                return NULL;
            }
            json_object_set_new(obj, json_string_value(key), val);
            json_decref(key);
        }
    }
    default:
        fail(err, errlen, "unexpected YAML structure");
        return NULL;
    }
}

json_t *ioe_yaml_to_json(const char *text, size_t len, char *err, size_t errlen)
{
    yaml_parser_t p;
    yaml_event_t ev;
    json_t *root = NULL;
    bool done = false;

    err[0] = 0;
    if (!yaml_parser_initialize(&p)) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            fail(err, errlen, "YAML error at line %zu: %s", p.problem_mark.line + 1,
                 p.problem ? p.problem : "syntax");
            json_decref(root);
            root = NULL;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        default:
            if (root) {
                fail(err, errlen, "more than one YAML document");
                json_decref(root);
                root = NULL;
                done = true;
                break;
            }
            root = parse_node(&p, &ev, err, errlen, 0);
            if (!root)
                done = true;
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (root == NULL && !err[0])
        root = json_null(); /* empty document */
    return root;
}

static int check_keys(json_t *obj, const char *where, const char *const *allowed, char *err,
                      size_t errlen)
{
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return fail(err, errlen, "%s must be a mapping", where);
    json_object_foreach(obj, k, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(*a, k);
        if (!ok)
            return fail(err, errlen, "unknown key '%s' in %s", k, where);
    }
    return 0;
}

static int check_port(json_t *obj, const char *key, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (v && (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535))
        return fail(err, errlen, "%s must be a port number", key);
    return 0;
}

int ioe_config_validate(json_t *c, char *err, size_t errlen)
{
    static const char *const top[] = {"source", "nvmf_tgt_conf", "nvme_bdev_opts", "bdev_opts",
                                      "nexus_opts", "socket_opts", "iobuf_opts", "eal_opts", NULL};
    static const char *const nexus[] = {"nvmf_enable", "nvmf_discovery_enable", "nvmf_nexus_port",
                                        "nvmf_replica_port", NULL};
    static const char *const eal[] = {"reactor_mask", "core_list", "developer_delay", NULL};
    int rc = check_keys(c, "the configuration", top, err, errlen);
    json_t *s;
    if (!rc && (s = json_object_get(c, "nexus_opts"))) {
        rc = check_keys(s, "nexus_opts", nexus, err, errlen);
        if (!rc)
            rc = check_port(s, "nvmf_nexus_port", err, errlen);
        if (!rc)
            rc = check_port(s, "nvmf_replica_port", err, errlen);
    }
    if (!rc && (s = json_object_get(c, "eal_opts"))) {
        rc = check_keys(s, "eal_opts", eal, err, errlen);
        json_t *v;
        if (!rc && (v = json_object_get(s, "reactor_mask")) && !json_is_string(v) &&
            !json_is_null(v))
            rc = fail(err, errlen, "eal_opts.reactor_mask must be a string such as \"0x3\"");
        if (!rc && (v = json_object_get(s, "core_list")) && !json_is_string(v) &&
            !json_is_null(v))
            rc = fail(err, errlen, "eal_opts.core_list must be a string such as \"0,1\"");
    }
    return rc;
}

int ioe_pools_validate(json_t *doc, char *err, size_t errlen)
{
    static const char *const top[] = {"pools", NULL};
    static const char *const pool[] = {"name", "disks", "backend", "replicas", NULL};
    int rc = check_keys(doc, "the pool file", top, err, errlen);
    if (rc)
        return rc;
    json_t *pools = json_object_get(doc, "pools");
    if (!json_is_array(pools))
        return fail(err, errlen, "the pool file needs a 'pools' list");
    size_t i;
    json_t *p;
    json_array_foreach(pools, i, p)
    {
        char where[32];
        snprintf(where, sizeof(where), "pools[%zu]", i);
        if ((rc = check_keys(p, where, pool, err, errlen)))
            return rc;
        json_t *name = json_object_get(p, "name"), *disks = json_object_get(p, "disks");
        json_t *backend = json_object_get(p, "backend");
        if (!json_is_string(name) || !json_string_length(name))
            return fail(err, errlen, "%s: 'name' must be a non-empty string", where);
        if (!json_is_array(disks) || json_array_size(disks) != 1 ||
            !json_is_string(json_array_get(disks, 0)))
            return fail(err, errlen, "%s: 'disks' must list exactly one device", where);
        if (backend && (!json_is_string(backend) || (strcasecmp(json_string_value(backend), "lvs") &&
                                                      strcasecmp(json_string_value(backend), "lvm"))))
            return fail(err, errlen, "%s: 'backend' must be Lvs or Lvm", where);
    }
    return 0;
}

static json_t *load_file(const char *path, bool missing_ok, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (missing_ok && errno == ENOENT)
            return json_null();
        fail(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        fail(err, errlen, "%s is a directory, not a file", path);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (64u << 20)) {
                fclose(f);
                free(buf);
                fail(err, errlen, "%s is too large", path);
                return NULL;
            }
            char *n = realloc(buf, cap);
            if (!n) {
                fclose(f);
                free(buf);
                fail(err, errlen, "out of memory");
                return NULL;
            }
            buf = n;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    err[0] = 0;
    char inner[256] = "";
    json_t *j = ioe_yaml_to_json(buf ? buf : "", len, inner, sizeof(inner));
    free(buf);
    if (!j)
        fail(err, errlen, "%s: %s", path, inner);
    return j;
}

int ioe_config_load(const char *cpath, const char *ppath, struct ioe_config *out, char *err,
                    size_t errlen)
{
    out->config = json_object();
    out->pools = json_array();
    if (cpath && *cpath) {
        json_t *c = load_file(cpath, true, err, errlen);
        if (!c)
            return -EINVAL;
        if (json_is_null(c)) {
            json_decref(c);
        } else {
            char inner[256];
            if (ioe_config_validate(c, inner, sizeof(inner))) {
                fail(err, errlen, "%s: %s", cpath, inner);
                json_decref(c);
                return -EINVAL;
            }
            json_decref(out->config);
            out->config = c;
        }
    }
    if (ppath && *ppath) {
        json_t *p = load_file(ppath, false, err, errlen);
        if (!p)
            return -EINVAL;
        char inner[256];
        if (ioe_pools_validate(p, inner, sizeof(inner))) {
            fail(err, errlen, "%s: %s", ppath, inner);
            json_decref(p);
            return -EINVAL;
        }
        json_decref(out->pools);
        out->pools = json_incref(json_object_get(p, "pools"));
        json_decref(p);
    }
    return 0;
}

void ioe_config_free(struct ioe_config *c)
{
    json_decref(c->config);
    json_decref(c->pools);
    c->config = c->pools = NULL;
}
