/* PTPL files (ptpl.h): blocking file I/O, run on offload workers. */
#include "nvmf/ptpl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/env.h"
#include "core/log.h"
#include "core/offload.h"

#define PTPL_MAX_FILE (1u << 20) /* 64 registrants take ~6 KiB; anything this big is not ours */

int nvmf_ptpl_replica_path(const char *pool_uuid, const char *uuid, char *out, size_t len)
{
    if (!g_env.args.ptpl_dir[0])
        return -ENOENT;
    int n = snprintf(out, len, "%s/pool/%s/replica/%s.json", g_env.args.ptpl_dir, pool_uuid, uuid);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

struct ptpl_job {
    char path[PATH_MAX];
    char *text;
    int rc;
    void (*load_cb)(void *arg, int rc, char *text);
    void (*store_cb)(void *arg, int rc);
    void *arg;
};

static void load_work(void *arg)
{
    struct ptpl_job *j = arg;
    int fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        j->rc = errno == ENOENT ? 0 : -errno;
        return;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        j->rc = -errno;
    } else if (!S_ISREG(st.st_mode) || (size_t)st.st_size > PTPL_MAX_FILE) {
        j->rc = -EFBIG;
    } else if (!(j->text = calloc(1, (size_t)st.st_size + 1))) {
        j->rc = -ENOMEM;
    } else {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t n = read(fd, j->text + got, (size_t)st.st_size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                j->rc = n < 0 ? -errno : -EIO;
                break;
            }
            got += (size_t)n;
        }
        if (!j->rc && strlen(j->text) != got)
            j->rc = -EILSEQ; /* a NUL inside: not text */
    }
    close(fd);
    if (j->rc) {
        free(j->text);
        j->text = NULL;
    }
}

static void load_done(void *arg)
{
    struct ptpl_job *j = arg;
    j->load_cb(j->arg, j->rc, j->text);
    free(j);
}

void nvmf_ptpl_load(const char *path, void (*cb)(void *arg, int rc, char *text), void *arg)
{
    struct ptpl_job *j = calloc(1, sizeof(*j));
    if (!j) {
        cb(arg, -ENOMEM, NULL);
        return;
    }
    snprintf(j->path, sizeof(j->path), "%s", path);
    j->load_cb = cb;
    j->arg = arg;
    if (offload(load_work, load_done, j)) {
        free(j);
        cb(arg, -ENOMEM, NULL);
    }
}

/* mkdir -p of the directories above `path`. */
static int make_parents(const char *path)
{
    char d[PATH_MAX];
    snprintf(d, sizeof(d), "%s", path);
    for (char *p = d + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(d, 0755) && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return 0;
}

static int sync_dir_of(const char *path)
{
    char d[PATH_MAX];
    snprintf(d, sizeof(d), "%s", path);
    char *slash = strrchr(d, '/');
    if (slash == d)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(d, sizeof(d), ".");
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

static void store_work(void *arg)
{
    struct ptpl_job *j = arg;
    char tmp[PATH_MAX + 8];
    if ((j->rc = make_parents(j->path)))
        return;
    snprintf(tmp, sizeof(tmp), "%s.tmp", j->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        j->rc = -errno;
        return;
    }
    size_t len = strlen(j->text), done = 0;
    while (done < len) {
        ssize_t n = write(fd, j->text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            j->rc = n < 0 ? -errno : -EIO;
            break;
        }
        done += (size_t)n;
    }
    if (!j->rc && fsync(fd))
        j->rc = -errno;
    if (close(fd) && !j->rc)
        j->rc = -errno;
    if (!j->rc && rename(tmp, j->path))
        j->rc = -errno;
    if (j->rc) {
        unlink(tmp);
        return;
    }
    j->rc = sync_dir_of(j->path);
}

static void store_done(void *arg)
{
    struct ptpl_job *j = arg;
    if (j->rc)
        log_error("nvmf: cannot write the reservation file %s: %s", j->path, strerror(-j->rc));
    j->store_cb(j->arg, j->rc);
    free(j->text);
    free(j);
}

void nvmf_ptpl_store(const char *path, const char *text, void (*cb)(void *arg, int rc),
                     void *arg)
{
    struct ptpl_job *j = calloc(1, sizeof(*j));
    if (!j || !(j->text = strdup(text))) {
        free(j);
        cb(arg, -ENOMEM);
        return;
    }
    snprintf(j->path, sizeof(j->path), "%s", path);
    j->store_cb = cb;
    j->arg = arg;
    if (offload(store_work, store_done, j)) {
        free(j->text);
        free(j);
        cb(arg, -ENOMEM);
    }
}
