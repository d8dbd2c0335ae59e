/* Parsing of the -b/--bind endpoint into a gRPC target string. Kept apart from main.c
 * (and free of gRPC) so the unit test can exercise it directly. */
#pragma once
#include <stddef.h>

/* Accepts HOST, HOST:PORT, [IPV6], [IPV6]:PORT, a bare IPV6 address, any of those behind
 * "http://" (with an optional trailing "/"), and "unix:PATH" (passed through). A missing
 * port means `default_port`. Writes "host:port" / "[v6]:port" to out. Returns 0, or -1
 * with a reason in err. */
int cli_endpoint_normalize(const char *in, unsigned default_port, char *out, size_t outlen,
                           char *err, size_t errlen);
