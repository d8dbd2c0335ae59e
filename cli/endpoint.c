#include "endpoint.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

/* Decimal port 1..65535 occupying exactly [s, s+len). */
static bool parse_port(const char *s, size_t len, unsigned *port)
{
    if (len == 0 || len > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return false;
    *port = v;
    return true;
}

static bool valid_host(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (isspace((unsigned char)s[i]) || s[i] == '/' || s[i] == '[' || s[i] == ']' ||
            s[i] == '@')
            return false;
    return true;
}

int cli_endpoint_normalize(const char *in, unsigned default_port, char *out, size_t outlen,
                           char *err, size_t errlen)
{
    /* gRPC resolves unix-socket targets itself; nothing to normalise. */
    if (!strncmp(in, "unix:", 5) || !strncmp(in, "unix-abstract:", 14)) {
        if ((size_t)snprintf(out, outlen, "%s", in) >= outlen)
            return fail(err, errlen, "endpoint too long");
        return 0;
    }
    if (!strncmp(in, "https://", 8))
        return fail(err, errlen, "TLS (https://) is not supported; use http:// or HOST:PORT");
    if (!strncmp(in, "http://", 7))
        in += 7;
    else if (strstr(in, "://"))
        return fail(err, errlen, "unsupported URI scheme; use http://HOST:PORT or HOST:PORT");

    size_t len = strlen(in);
    if (len && in[len - 1] == '/') /* "http://host:port/" as copied from a browser */
        len--;
    if (len == 0)
        return fail(err, errlen, "empty endpoint");

    const char *host = in;
    size_t host_len;
    bool v6 = false;
    unsigned port = default_port;
    if (in[0] == '[') {
        const char *close = memchr(in, ']', len);
        if (!close)
            return fail(err, errlen, "missing ']' after the IPv6 address");
        host = in + 1;
        host_len = (size_t)(close - host);
        v6 = true;
        size_t rest = len - (size_t)(close + 1 - in);
        if (rest && (close[1] != ':' || !parse_port(close + 2, rest - 1, &port)))
            return fail(err, errlen, "expected [IPV6]:PORT with a port in 1..65535");
    } else {
        const char *colon = memchr(in, ':', len);
        const char *last = memrchr(in, ':', len);
        if (colon && colon != last) { /* several colons: a bare IPv6 address */
            host_len = len;
            v6 = true;
        } else if (colon) {
            host_len = (size_t)(colon - in);
            if (!parse_port(colon + 1, len - host_len - 1, &port))
                return fail(err, errlen, "expected HOST:PORT with a port in 1..65535");
        } else {
            host_len = len;
        }
    }
    if (!valid_host(host, host_len))
        return fail(err, errlen, "invalid host name or address");
    int n = v6 ? snprintf(out, outlen, "[%.*s]:%u", (int)host_len, host, port)
               : snprintf(out, outlen, "%.*s:%u", (int)host_len, host, port);
    if (n < 0 || (size_t)n >= outlen)
        return fail(err, errlen, "endpoint too long");
    return 0;
}
