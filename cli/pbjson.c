#include "pbjson.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "output.h"

/* Size of one element of a repeated field; protobuf-c stores repeated fields as a plain
 * C array of the member's type. */
static size_t elem_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

/* Whether field f of m carries a value that should be shown. Oneof members are shown only
 * when selected; proto2-style optional scalars only when their has_ flag is set. */
static bool field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
        f->type != PROTOBUF_C_TYPE_STRING && f->quantifier_offset)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
    return true;
}

static json_t *base64(const ProtobufCBinaryData *b)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t olen = (b->len + 2) / 3 * 4;
    char *out = malloc(olen + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < b->len; i += 3) {
        uint32_t v = (uint32_t)b->data[i] << 16;
        if (i + 1 < b->len)
            v |= (uint32_t)b->data[i + 1] << 8;
        if (i + 2 < b->len)
            v |= b->data[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < b->len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < b->len ? tbl[v & 63] : '=';
    }
    out[o] = 0;
    json_t *j = json_stringn(out, o);
    free(out);
    return j;
}

/* jansson rejects invalid UTF-8, and device data (model names, labels) may contain
 * anything: rather than failing the whole command, non-ASCII bytes of such a string are
 * replaced with '?'. */
static json_t *string_value(const char *s)
{
    if (!s)
        return json_string("");
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *c = copy; *c; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *enum_value(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    return ev ? json_string(ev->name) : json_integer(v);
}

/* One value of type f->type stored at p. */
static json_t *scalar(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)p;
        if (v <= INT64_MAX)
            return json_integer((json_int_t)v);
        char buf[24];
        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return json_string(buf);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM:
        return enum_value(f->descriptor, *(const int *)p);
    case PROTOBUF_C_TYPE_STRING:
        return string_value(*(char *const *)p);
    case PROTOBUF_C_TYPE_BYTES:
        return base64(p);
    case PROTOBUF_C_TYPE_MESSAGE:
        return pbjson_message(*(ProtobufCMessage *const *)p);
    }
    return json_null();
}

/* RFC 3339 with nanoseconds trimmed to 0, 3, 6 or 9 digits like the proto3 mapping. */
static void fmt_nanos(char *buf, size_t len, int32_t nanos)
{
    if (!nanos)
        buf[0] = 0;
    else if (nanos % 1000000 == 0)
        snprintf(buf, len, ".%03d", nanos / 1000000);
    else if (nanos % 1000 == 0)
        snprintf(buf, len, ".%06d", nanos / 1000);
    else
        snprintf(buf, len, ".%09d", nanos);
}

/* Field `name` of a well-known type, located through the descriptor (these messages may
 * not be linked in, so their C structs are not used). */
static const void *wkt_field(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
        m->descriptor, name);
    return f ? (const char *)m + f->offset : NULL;
}

/* Returns true and sets *out when m is a google.protobuf type with a special mapping. */
static bool well_known(const ProtobufCMessage *m, json_t **out)
{
    const char *name = m->descriptor->name;
    if (strncmp(name, "google.protobuf.", 16))
        return false;
    name += 16;
    size_t len = strlen(name);
    if (len > 5 && !strcmp(name + len - 5, "Value") && m->descriptor->n_fields == 1 &&
        !strcmp(m->descriptor->fields[0].name, "value")) {
        *out = scalar(&m->descriptor->fields[0], (const char *)m + m->descriptor->fields[0].offset);
        return true;
    }
    const int64_t *secs = wkt_field(m, "seconds");
    const int32_t *nanos = wkt_field(m, "nanos");
    char frac[16];
    char buf[96];
    if (!strcmp(name, "Timestamp") && secs && nanos) {
        time_t t = (time_t)*secs;
        struct tm tm;
        if (!gmtime_r(&t, &tm))
            return false;
        char date[64];
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
        fmt_nanos(frac, sizeof(frac), *nanos);
        snprintf(buf, sizeof(buf), "%s%sZ", date, frac);
        *out = json_string(buf);
        return true;
    }
    if (!strcmp(name, "Duration") && secs && nanos) {
        bool neg = *secs < 0 || *nanos < 0;
        fmt_nanos(frac, sizeof(frac), abs(*nanos));
        snprintf(buf, sizeof(buf), "%s%" PRIu64 "%ss", neg ? "-" : "",
                 *secs < 0 ? (uint64_t)0 - (uint64_t)*secs : (uint64_t)*secs, frac);
        *out = json_string(buf);
        return true;
    }
    return false;
}

json_t *pbjson_message(const ProtobufCMessage *m)
{
    if (!m)
        return json_null();
    json_t *wk;
    if (well_known(m, &wk))
        return wk;
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *member = (const char *)m + f->offset;
        json_t *v;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            const char *arr = *(char *const *)member;
            v = json_array();
            for (size_t k = 0; v && k < n; k++)
                if (json_array_append_new(v, scalar(f, arr + k * elem_size(f->type)))) {
                    json_decref(v);
                    v = NULL;
                }
        } else if (!field_present(m, f)) {
            continue;
        } else {
            v = scalar(f, member);
        }
        if (!v || json_object_set_new(obj, f->name, v)) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

void pb_field_str(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, char *buf,
                  size_t len)
{
    snprintf(buf, len, "-");
    if (f->label == PROTOBUF_C_LABEL_REPEATED || f->type == PROTOBUF_C_TYPE_MESSAGE ||
        f->type == PROTOBUF_C_TYPE_BYTES || !field_present(m, f))
        return;
    json_t *v = scalar(f, (const char *)m + f->offset);
    if (!v)
        cli_oom();
    if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, len, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    json_decref(v);
}

char *pb_summary(const ProtobufCMessage *m)
{
    if (!m)
        return xstrdup("-");
    char *out = NULL;
    size_t olen = 0;
    FILE *f = open_memstream(&out, &olen);
    if (!f)
        cli_oom();
    bool first = true;
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &m->descriptor->fields[i];
        if (fd->label == PROTOBUF_C_LABEL_REPEATED || fd->type == PROTOBUF_C_TYPE_MESSAGE ||
            fd->type == PROTOBUF_C_TYPE_BYTES || !field_present(m, fd))
            continue;
        char val[256];
        pb_field_str(m, fd, val, sizeof(val));
        fprintf(f, "%s%s=%s", first ? "" : ", ", fd->name, val);
        first = false;
    }
    if (fclose(f) || !out)
        cli_oom();
    if (first) {
        free(out);
        return xstrdup("-");
    }
    return out;
}
