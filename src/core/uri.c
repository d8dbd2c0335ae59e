#include "uri.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t len, const char *fmt, ...)
{
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes [s, s+n) into a new string; NULL on a bad escape or a decoded NUL. */
static char *decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int h, l;
            if (i + 2 >= n || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0 ||
                (h == 0 && l == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(h * 16 + l);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = 0;
    return out;
}

bool uri_has_scheme(const char *s)
{
    const char *p = strstr(s, "://");
    if (!p || p == s || !isalpha((unsigned char)s[0]))
        return false;
    for (const char *c = s; c < p; c++)
        if (!isalnum((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.')
            return false;
    return true;
}

void uri_free(struct uri *u)
{
    free(u->scheme);
    free(u->host);
    free(u->path);
    for (int i = 0; i < u->n_params; i++) {
        free(u->params[i].key);
        free(u->params[i].value);
    }
    memset(u, 0, sizeof(*u));
    u->port = -1;
}

static int parse_query(const char *q, struct uri *u, char *err, size_t errlen)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n) {
            if (u->n_params == URI_MAX_PARAMS)
                return fail(err, errlen, "too many query parameters");
            const char *eq = memchr(q, '=', n);
            size_t kl = eq ? (size_t)(eq - q) : n;
            if (!kl)
                return fail(err, errlen, "empty query parameter name");
            struct uri_param *p = &u->params[u->n_params];
            p->key = decode(q, kl);
            p->value = eq ? decode(eq + 1, n - kl - 1) : decode("", 0);
            if (!p->key || !p->value) {
                free(p->key);
                free(p->value);
                p->key = p->value = NULL;
                return fail(err, errlen, "bad percent-encoding in query");
            }
            for (int i = 0; i < u->n_params; i++)
                if (!strcmp(u->params[i].key, p->key)) {
                    free(p->key);
                    free(p->value);
                    p->key = p->value = NULL;
                    return fail(err, errlen, "query parameter '%s' given twice", u->params[i].key);
                }
            u->n_params++;
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

int uri_parse(const char *s, struct uri *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    u->port = -1;
    if (!s || !uri_has_scheme(s))
        return fail(err, errlen, "'%s' is not a URI (scheme://...)", s ? s : "");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c <= 0x20 || *c == 0x7f)
            return fail(err, errlen, "URI contains whitespace or control characters");

    const char *sep = strstr(s, "://");
    u->scheme = strndup(s, (size_t)(sep - s));
    for (char *c = u->scheme; c && *c; c++)
        *c = (char)tolower((unsigned char)*c);
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *rest = auth + alen;

    /* authority: [user@]host[:port] */
    const char *at = memchr(auth, '@', alen);
    if (at) {
        alen -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    const char *hend = auth + alen;
    const char *portp = NULL;
    if (alen && auth[0] == '[') {
        const char *rb = memchr(auth, ']', alen);
        if (!rb)
            goto bad_host;
        u->host = strndup(auth + 1, (size_t)(rb - auth - 1));
        if (rb + 1 < hend) {
            if (rb[1] != ':')
                goto bad_host;
            portp = rb + 2;
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        u->host = strndup(auth, colon ? (size_t)(colon - auth) : alen);
        if (colon)
            portp = colon + 1;
    }
    if (portp) {
        long port = 0;
        if (portp == hend)
            goto bad_port;
        for (const char *c = portp; c < hend; c++) {
            if (!isdigit((unsigned char)*c))
                goto bad_port;
            port = port * 10 + (*c - '0');
            if (port > 65535)
                goto bad_port;
        }
        u->port = (int)port;
    }

    size_t plen = strcspn(rest, "?#");
    u->path = decode(rest, plen);
    if (!u->scheme || !u->host || !u->path) {
        uri_free(u);
        return fail(err, errlen, "bad percent-encoding in URI path");
    }
    rest += plen;
    if (*rest == '?') {
        char *q = strndup(rest + 1, strcspn(rest + 1, "#"));
        int rc = q ? parse_query(q, u, err, errlen) : -ENOMEM;
        free(q);
        if (rc) {
            uri_free(u);
            return rc;
        }
    }
    return 0;

bad_host:
    uri_free(u);
    return fail(err, errlen, "bad host in URI '%s'", s);
bad_port:
    uri_free(u);
    return fail(err, errlen, "bad port in URI '%s'", s);
}

const char *uri_param(const struct uri *u, const char *key)
{
    for (int i = 0; i < u->n_params; i++)
        if (!strcmp(u->params[i].key, key))
            return u->params[i].value;
    return NULL;
}

const char *uri_unknown_param(const struct uri *u, const char *const *allowed)
{
    for (int i = 0; i < u->n_params; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(*a, u->params[i].key);
        if (!ok)
            return u->params[i].key;
    }
    return NULL;
}
