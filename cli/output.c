#include "output.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct table {
    size_t ncols;
    char **headers;
    bool *right;       /* right-aligned columns */
    char ***rows;      /* rows[r][c], NULL for a cell never filled */
    size_t nrows, cap;
    size_t cur;        /* next column of the current row */
    char *empty_msg;
};

_Noreturn void cli_oom(void)
{
    fputs("io-engine-client: out of memory\n", stderr);
    exit(CLI_EXIT_LOCAL);
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        cli_oom();
    return p;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        cli_oom();
    return p;
}

struct table *table_new(const char *const *headers)
{
    struct table *t = xcalloc(1, sizeof(*t));
    while (headers[t->ncols])
        t->ncols++;
    t->headers = xcalloc(t->ncols, sizeof(char *));
    t->right = xcalloc(t->ncols, sizeof(bool));
    for (size_t c = 0; c < t->ncols; c++) {
        const char *h = headers[c];
        if (*h == '>') {
            t->right[c] = true;
            h++;
        }
        t->headers[c] = xstrdup(h);
    }
    return t;
}

void table_set_empty(struct table *t, const char *msg)
{
    free(t->empty_msg);
    t->empty_msg = xstrdup(msg);
}

void table_row(struct table *t)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char ***rows = realloc(t->rows, cap * sizeof(*rows));
        if (!rows)
            cli_oom();
        t->rows = rows;
        t->cap = cap;
    }
    t->rows[t->nrows++] = xcalloc(t->ncols, sizeof(char *));
    t->cur = 0;
}

/* Takes ownership of s. Extra cells beyond the header count are a programming error;
 * they are dropped rather than corrupting the layout. */
static void add_cell(struct table *t, char *s)
{
    if (!t->nrows || t->cur >= t->ncols) {
        free(s);
        return;
    }
    t->rows[t->nrows - 1][t->cur++] = s;
}

void table_cell(struct table *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        cli_oom();
    add_cell(t, s);
}

void table_cell_str(struct table *t, const char *s)
{
    add_cell(t, xstrdup(s && *s ? s : "-"));
}

/* Display width: UTF-8 code points, so a model name with non-ASCII text still lines up
 * (wide CJK glyphs are not accounted for; they do not occur in device data). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

static void pad(FILE *out, size_t n)
{
    while (n--)
        fputc(' ', out);
}

static void print_line(const struct table *t, const size_t *w, char *const *cells, FILE *out)
{
    for (size_t c = 0; c < t->ncols; c++) {
        const char *s = cells[c] ? cells[c] : "-";
        size_t sw = width(s);
        bool last = c + 1 == t->ncols;
        if (c)
            fputs("  ", out);
        if (t->right[c]) {
            pad(out, w[c] - sw);
            fputs(s, out);
        } else {
            fputs(s, out);
            if (!last) /* no trailing blanks at the end of a line */
                pad(out, w[c] - sw);
        }
    }
    fputc('\n', out);
}

void table_print(const struct table *t, FILE *out)
{
    if (!t->nrows && t->empty_msg) {
        fprintf(out, "%s\n", t->empty_msg);
        return;
    }
    size_t *w = xcalloc(t->ncols, sizeof(size_t));
    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = width(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t cw = width(t->rows[r][c] ? t->rows[r][c] : "-");
            if (cw > w[c])
                w[c] = cw;
        }
    }
    print_line(t, w, t->headers, out);
    for (size_t r = 0; r < t->nrows; r++)
        print_line(t, w, t->rows[r], out);
    free(w);
}

void table_free(struct table *t)
{
    if (!t)
        return;
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++)
            free(t->rows[r][c]);
        free(t->rows[r]);
    }
    for (size_t c = 0; c < t->ncols; c++)
        free(t->headers[c]);
    free(t->rows);
    free(t->headers);
    free(t->right);
    free(t->empty_msg);
    free(t);
}

void human_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
        return;
    }
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    /* 1023.96 KiB would print as "1024.0 KiB"; move it to the next unit instead. */
    if (v >= 1023.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
}

int print_json(json_t *j)
{
    int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
    json_decref(j);
    if (rc || fputc('\n', stdout) == EOF || fflush(stdout))
        return -1;
    return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    const char *p = end;
    unsigned shift = 0;
    switch (toupper((unsigned char)*p)) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: break;
    }
    if (shift) {
        p++;
        if (*p == 'i' || *p == 'I')
            p++;
    }
    if (*p == 'B' || *p == 'b')
        p++;
    if (*p || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int cli_split_list(const char *s, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!s)
        return 0;
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    /* one block: the pointer array (with a terminating NULL) then the copied text */
    size_t len = strlen(s) + 1;
    char **v = malloc((cap + 1) * sizeof(char *) + len);
    if (!v)
        return -1;
    char *text = (char *)(v + cap + 1);
    memcpy(text, s, len);
    size_t k = 0;
    for (char *tok, *save = text; (tok = strsep(&save, ","));)
        if (*tok)
            v[k++] = tok;
    v[k] = NULL;
    *out = v;
    *n = k;
    return 0;
}

void cli_list_free(char **v) { free(v); }
