/*
 * Host block-device enumeration. See blk_device.h for the overall approach.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif

#include "blk_device.h"

#include <blkid/blkid.h>
#include <ctype.h>
#include <errno.h>
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#define MOUNTINFO_PATH "/proc/self/mountinfo"
#define GPT_LINUX_FS_GUID "0fc63daf-8483-4772-8e79-3d69d8477de4"
#define MBR_LINUX_FS_TYPE 0x83UL

/* ------------------------------------------------------------------------ */
/* Availability rule (pure)                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Majors of device classes that may back a pool: loop (7), SCSI disks (8),
 * NBD (43), the dynamically assigned range 240-255 (virtio-blk,
 * device-mapper, ...) and blkext 259 (NVMe namespaces, high partitions).
 * Anything else (ram, md, optical drives, ...) is never offered.
 */
static bool major_is_usable(uint32_t major)
{
    return major == 7 || major == 8 || major == 43 ||
           (major >= 240 && major <= 255) || major == 259;
}

/* Our own nexus/NVMe-oF targets must never be offered as pool backing,
 * or a pool could end up layered on top of itself. */
static bool model_is_mayastor(const char *model)
{
    return model != NULL &&
           (strcasestr(model, "mayastor") != NULL || strcasestr(model, "nexus") != NULL);
}

static bool typeid_is_gpt_linux_fs(const char *typeid)
{
    return strcasecmp(typeid, GPT_LINUX_FS_GUID) == 0;
}

/* MBR types are reported as "0x83"; accept the bare "83" spelling too. */
static bool typeid_is_mbr_linux_fs(const char *typeid)
{
    if (!isxdigit((unsigned char)typeid[0]))
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(typeid, &end, 16);
    return errno == 0 && *end == '\0' && v == MBR_LINUX_FS_TYPE;
}

/*
 * Only partitions explicitly typed "Linux filesystem" are offered, so that
 * EFI, swap, LVM, RAID, ... partitions are left alone. When the scheme is
 * unknown the two typeid spellings are still unambiguous, so decide on the
 * typeid alone.
 */
static bool partition_is_linux_fs(const char *scheme, const char *typeid)
{
    if (typeid == NULL || typeid[0] == '\0')
        return false;
    if (scheme == NULL || scheme[0] == '\0')
        return typeid_is_gpt_linux_fs(typeid) || typeid_is_mbr_linux_fs(typeid);
    if (strcasecmp(scheme, "gpt") == 0)
        return typeid_is_gpt_linux_fs(typeid);
    if (strcasecmp(scheme, "dos") == 0 || strcasecmp(scheme, "mbr") == 0)
        return typeid_is_mbr_linux_fs(typeid);
    return false;
}

bool blk_device_is_available(const struct blk_avail_input *in)
{
    if (in == NULL || in->size == 0)
        return false;
    if (model_is_mayastor(in->model) || !major_is_usable(in->major))
        return false;
    if (in->is_partition) {
        if (!partition_is_linux_fs(in->part_scheme, in->part_typeid))
            return false;
    } else if (in->has_partitions) {
        /* A partitioned disk is in use; its partitions are judged instead. */
        return false;
    }
    return !in->has_fs && !in->mounted;
}

/* ------------------------------------------------------------------------ */
/* mountinfo parsing (pure)                                                 */
/* ------------------------------------------------------------------------ */

struct mount_entry {
    uint32_t major, minor;
    char *mountpoint;
    char *fstype;
    char *source;
};

/* Fields are separated by single spaces; embedded blanks are octal-escaped
 * by the kernel, so a plain split is exact. */
static bool take_field(const char **cur, const char **start, size_t *len)
{
    const char *p = *cur;
    while (*p == ' ')
        p++;
    if (*p == '\0' || *p == '\n')
        return false;
    const char *e = p;
    while (*e != '\0' && *e != ' ' && *e != '\n')
        e++;
    *start = p;
    *len = (size_t)(e - p);
    *cur = e;
    return true;
}

static bool parse_u32(const char *s, size_t len, uint32_t *out)
{
    if (len == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > UINT32_MAX)
            return false;
    }
    *out = (uint32_t)v;
    return true;
}

static bool parse_devnum(const char *s, size_t len, uint32_t *major, uint32_t *minor)
{
    const char *colon = memchr(s, ':', len);
    if (colon == NULL)
        return false;
    size_t mlen = (size_t)(colon - s);
    return parse_u32(s, mlen, major) && parse_u32(colon + 1, len - mlen - 1, minor);
}

static bool is_octal(char c)
{
    return c >= '0' && c <= '7';
}

/* Decode "\ooo" escapes. Sequences that are not a valid non-NUL byte are
 * kept literally rather than rejected: a mountpoint is still better than
 * losing the mount altogether. */
static char *unescape_octal(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 3 < len && is_octal(s[i + 1]) && is_octal(s[i + 2]) &&
            is_octal(s[i + 3])) {
            unsigned v = (unsigned)(s[i + 1] - '0') * 64 + (unsigned)(s[i + 2] - '0') * 8 +
                         (unsigned)(s[i + 3] - '0');
            if (v != 0 && v <= 0xff) {
                out[o++] = (char)v;
                i += 3;
                continue;
            }
        }
        out[o++] = s[i];
    }
    out[o] = '\0';
    return out;
}

static void mount_entry_free(struct mount_entry *e)
{
    free(e->mountpoint);
    free(e->fstype);
    free(e->source);
    e->mountpoint = e->fstype = e->source = NULL;
}

/*
 * Layout: id parent major:minor root mountpoint options [optional...] -
 *         fstype source superoptions
 * The "-" separator and what follows are required so that truncated lines
 * are rejected instead of half-parsed.
 */
static int parse_mount_entry(const char *line, struct mount_entry *e)
{
    const char *cur = line, *f[5], *fs_f, *src_f, *sep;
    size_t l[5], fs_l, src_l, sep_l;

    if (line == NULL)
        return -EINVAL;
    for (int i = 0; i < 5; i++)
        if (!take_field(&cur, &f[i], &l[i]))
            return -EINVAL;
    uint32_t major, minor;
    if (!parse_devnum(f[2], l[2], &major, &minor))
        return -EINVAL;
    do {
        if (!take_field(&cur, &sep, &sep_l))
            return -EINVAL;
    } while (!(sep_l == 1 && sep[0] == '-'));
    if (!take_field(&cur, &fs_f, &fs_l) || !take_field(&cur, &src_f, &src_l))
        return -EINVAL;

    struct mount_entry tmp = {
        .major = major,
        .minor = minor,
        .mountpoint = unescape_octal(f[4], l[4]),
        .fstype = unescape_octal(fs_f, fs_l),
        .source = unescape_octal(src_f, src_l),
    };
    if (tmp.mountpoint == NULL || tmp.fstype == NULL || tmp.source == NULL) {
        mount_entry_free(&tmp);
        return -ENOMEM;
    }
    *e = tmp;
    return 0;
}

int blk_parse_mountinfo_line(const char *line, uint32_t *major, uint32_t *minor,
                             char **mountpoint)
{
    if (major == NULL || minor == NULL || mountpoint == NULL)
        return -EINVAL;
    struct mount_entry e;
    int rc = parse_mount_entry(line, &e);
    if (rc != 0)
        return rc;
    *major = e.major;
    *minor = e.minor;
    *mountpoint = e.mountpoint;
    e.mountpoint = NULL;
    mount_entry_free(&e);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Mount table                                                              */
/* ------------------------------------------------------------------------ */

struct mount_table {
    struct mount_entry *v;
    size_t n, cap;
};

static void mount_table_free(struct mount_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        mount_entry_free(&t->v[i]);
    free(t->v);
    *t = (struct mount_table){0};
}

static int mount_table_push(struct mount_table *t, struct mount_entry *e)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        struct mount_entry *v = realloc(t->v, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = *e;
    return 0;
}

/* An unreadable mount table is fatal: without it mounted disks would be
 * reported as available, which could get them wiped by pool creation. */
static int mount_table_load(struct mount_table *t)
{
    *t = (struct mount_table){0};
    FILE *f = fopen(MOUNTINFO_PATH, "re");
    if (f == NULL)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        struct mount_entry e;
        int prc = parse_mount_entry(line, &e);
        if (prc == -EINVAL)
            continue; /* tolerate odd lines, the rest is still useful */
        rc = prc;
        if (rc == 0 && (rc = mount_table_push(t, &e)) != 0)
            mount_entry_free(&e);
    }
    free(line);
    fclose(f);
    if (rc != 0)
        mount_table_free(t);
    return rc;
}

/* st_dev is authoritative; the source path additionally catches filesystems
 * such as btrfs whose st_dev is an anonymous 0:N number. */
static bool mount_is_of(const struct mount_entry *m, uint32_t major, uint32_t minor,
                        const char *devname)
{
    if (m->major == major && m->minor == minor)
        return true;
    return devname[0] == '/' && strcmp(m->source, devname) == 0;
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

/* Keep every result string owned and non-NULL, which spares the RPC layer
 * from NULL checks. */
static int set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = strdup(s != NULL ? s : "");
    return *dst != NULL ? 0 : -ENOMEM;
}

/* sysfs model strings are space padded (SCSI INQUIRY / NVMe identify). */
static int set_trimmed(char **dst, const char *s)
{
    if (s == NULL)
        return set_str(dst, NULL);
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    free(*dst);
    *dst = strndup(s, len);
    return *dst != NULL ? 0 : -ENOMEM;
}

static int strv_push(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof(**v));
    if (nv == NULL)
        return -ENOMEM;
    *v = nv;
    nv[*n] = strdup(s);
    if (nv[*n] == NULL)
        return -ENOMEM;
    (*n)++;
    return 0;
}

static bool strv_contains(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool parse_u32_str(const char *s, uint32_t *out)
{
    return s != NULL && parse_u32(s, strlen(s), out);
}

static bool parse_u64_str(const char *s, uint64_t *out)
{
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (errno != 0 || *end != '\0')
        return false;
    *out = (uint64_t)v;
    return true;
}

/* Empty udev properties carry no information; treat them as absent. */
static const char *udev_prop(struct udev_device *d, const char *key)
{
    const char *v = udev_device_get_property_value(d, key);
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

static const char *first_set(const char *a, const char *b)
{
    return a != NULL ? a : b;
}

/* ------------------------------------------------------------------------ */
/* Signature probing: udev database or libblkid                             */
/* ------------------------------------------------------------------------ */

struct probe_info {
    char *fstype, *label, *uuid;
    char *part_scheme, *part_type, *part_uuid, *part_name, *part_number;
    /* The device could not be proven blank: it was unreadable, or blkid
     * found conflicting signatures. Such a device is never offered. */
    bool uncertain;
};

/* Same information under its udev-database and libblkid names. */
static const struct {
    size_t off;
    const char *udev_key;
    const char *blkid_key;
} probe_keys[] = {
    {offsetof(struct probe_info, fstype), "ID_FS_TYPE", "TYPE"},
    {offsetof(struct probe_info, label), "ID_FS_LABEL", "LABEL"},
    {offsetof(struct probe_info, uuid), "ID_FS_UUID", "UUID"},
    {offsetof(struct probe_info, part_scheme), "ID_PART_ENTRY_SCHEME", "PART_ENTRY_SCHEME"},
    {offsetof(struct probe_info, part_type), "ID_PART_ENTRY_TYPE", "PART_ENTRY_TYPE"},
    {offsetof(struct probe_info, part_uuid), "ID_PART_ENTRY_UUID", "PART_ENTRY_UUID"},
    {offsetof(struct probe_info, part_name), "ID_PART_ENTRY_NAME", "PART_ENTRY_NAME"},
    {offsetof(struct probe_info, part_number), "ID_PART_ENTRY_NUMBER", "PART_ENTRY_NUMBER"},
};

static char **probe_slot(struct probe_info *pi, size_t i)
{
    return (char **)((char *)pi + probe_keys[i].off);
}

static void probe_info_free(struct probe_info *pi)
{
    for (size_t i = 0; i < sizeof(probe_keys) / sizeof(probe_keys[0]); i++) {
        free(*probe_slot(pi, i));
        *probe_slot(pi, i) = NULL;
    }
}

static int probe_from_udev(struct udev_device *d, struct probe_info *pi)
{
    for (size_t i = 0; i < sizeof(probe_keys) / sizeof(probe_keys[0]); i++) {
        const char *v = udev_prop(d, probe_keys[i].udev_key);
        if (v != NULL && (*probe_slot(pi, i) = strdup(v)) == NULL)
            return -ENOMEM;
    }
    return 0;
}

static int probe_collect_blkid(blkid_probe pr, struct probe_info *pi)
{
    for (size_t i = 0; i < sizeof(probe_keys) / sizeof(probe_keys[0]); i++) {
        const char *v = NULL;
        if (blkid_probe_lookup_value(pr, probe_keys[i].blkid_key, &v, NULL) != 0 ||
            v == NULL || v[0] == '\0')
            continue;
        if ((*probe_slot(pi, i) = strdup(v)) == NULL)
            return -ENOMEM;
    }
    return 0;
}

/*
 * Read-only probe of the device node. Any failure to open or read the
 * device (EACCES, no medium, ...) only means "nothing known": no filesystem
 * info and not offered, but a single bad device must not break the whole
 * listing. Only -ENOMEM is propagated.
 */
static int probe_from_blkid(const char *devname, struct probe_info *pi)
{
    blkid_probe pr = blkid_new_probe_from_filename(devname);
    if (pr == NULL) {
        pi->uncertain = true;
        return 0;
    }
    blkid_probe_enable_superblocks(pr, 1);
    blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL |
                                              BLKID_SUBLKS_UUID);
    /* For a partition node libblkid reads the parent's table to fill in
     * the PART_ENTRY_* values. */
    blkid_probe_enable_partitions(pr, 1);
    blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);

    int rc = 0;
    int prc = blkid_do_safeprobe(pr);
    if (prc == 0)
        rc = probe_collect_blkid(pr, pi);
    else if (prc < 0) /* -2: ambivalent signatures, -1: I/O error */
        pi->uncertain = true;
    blkid_free_probe(pr);
    return rc;
}

/*
 * A device with a udev database entry has already been probed by udevd, so
 * its properties are trusted and no I/O is issued. Without one (no udevd,
 * e.g. in a container) the node is probed directly. Empty or Mayastor
 * devices are not probed: nothing to find, and reading our own exported
 * targets from inside the engine could block on ourselves.
 */
static int probe_device(struct udev_device *d, const char *devname, uint64_t size,
                        const char *model, struct probe_info *pi)
{
    if (udev_device_get_is_initialized(d) > 0)
        return probe_from_udev(d, pi);
    if (size == 0 || devname[0] == '\0' || model_is_mayastor(model))
        return 0;
    return probe_from_blkid(devname, pi);
}

/* ------------------------------------------------------------------------ */
/* Building one device                                                      */
/* ------------------------------------------------------------------------ */

static void blk_device_free(struct blk_device *d)
{
    free(d->devname);
    free(d->devtype);
    free(d->model);
    free(d->devpath);
    strv_free(d->devlinks, d->n_devlinks);
    free(d->partition.parent);
    free(d->partition.name);
    free(d->partition.scheme);
    free(d->partition.typeid);
    free(d->partition.uuid);
    free(d->filesystem.fstype);
    free(d->filesystem.label);
    free(d->filesystem.uuid);
    strv_free(d->filesystem.mountpoints, d->filesystem.n_mountpoints);
    free(d->connection_type);
    *d = (struct blk_device){0};
}

static int fill_identity(struct blk_device *d, struct udev_device *ud)
{
    dev_t devnum = udev_device_get_devnum(ud);
    d->devmajor = major(devnum);
    d->devminor = minor(devnum);
    int rc = set_str(&d->devname, udev_device_get_devnode(ud));
    if (rc == 0)
        rc = set_str(&d->devtype, udev_device_get_devtype(ud));
    if (rc == 0)
        rc = set_str(&d->devpath, udev_device_get_devpath(ud));
    struct udev_list_entry *e;
    udev_list_entry_foreach(e, udev_device_get_devlinks_list_entry(ud))
    {
        if (rc == 0)
            rc = strv_push(&d->devlinks, &d->n_devlinks, udev_list_entry_get_name(e));
    }
    return rc;
}

/* Model and rotational live on the whole disk, so partitions consult it. */
static int fill_disk_attrs(struct blk_device *d, struct udev_device *ud,
                           struct udev_device *disk)
{
    const char *model = first_set(udev_prop(ud, "ID_MODEL"),
                                  udev_device_get_sysattr_value(disk, "device/model"));
    uint32_t rot;
    if (parse_u32_str(udev_device_get_sysattr_value(disk, "queue/rotational"), &rot)) {
        d->has_rotational = true;
        d->is_rotational = rot != 0;
    }
    return set_trimmed(&d->model, model);
}

/* Below a SCSI device, udev's ID_BUS distinguishes USB and ATA transports. */
static const char *scsi_flavour(struct udev_device *scsi_dev)
{
    if (udev_device_get_parent_with_subsystem_devtype(scsi_dev, "usb", NULL) != NULL)
        return "usb";
    const char *devpath = udev_device_get_devpath(scsi_dev);
    if (devpath != NULL && strstr(devpath, "/ata") != NULL)
        return "ata";
    return "scsi";
}

/* Without udevd there is no ID_BUS; derive the equivalent from the first
 * recognisable ancestor in the sysfs device tree. */
static const char *derive_connection(struct udev_device *ud)
{
    for (struct udev_device *p = udev_device_get_parent(ud); p != NULL;
         p = udev_device_get_parent(p)) {
        const char *ss = udev_device_get_subsystem(p);
        if (ss == NULL)
            continue;
        if (strncmp(ss, "nvme", 4) == 0) /* nvme, nvme-subsystem */
            return "nvme";
        if (strcmp(ss, "virtio") == 0)
            return "virtio";
        if (strcmp(ss, "usb") == 0)
            return "usb";
        if (strcmp(ss, "scsi") == 0)
            return scsi_flavour(p);
    }
    return "";
}

static int fill_connection(struct blk_device *d, struct udev_device *ud)
{
    return set_str(&d->connection_type, first_set(udev_prop(ud, "ID_BUS"),
                                                  derive_connection(ud)));
}

static int fill_partition(struct blk_device *d, struct udev_device *ud,
                          struct udev_device *disk, const struct probe_info *pi)
{
    struct blk_partition *p = &d->partition;
    d->has_partition = true;
    /* PARTN / PARTNAME come from the kernel uevent, so they exist even
     * without udevd; the probed entry is the fallback. */
    if (!parse_u32_str(udev_prop(ud, "PARTN"), &p->number) &&
        !parse_u32_str(pi->part_number, &p->number))
        parse_u32_str(udev_device_get_sysattr_value(ud, "partition"), &p->number);
    int rc = set_str(&p->parent, disk != ud ? udev_device_get_devnode(disk) : NULL);
    if (rc == 0)
        rc = set_str(&p->name, first_set(udev_prop(ud, "PARTNAME"), pi->part_name));
    if (rc == 0)
        rc = set_str(&p->scheme, pi->part_scheme);
    if (rc == 0)
        rc = set_str(&p->typeid, pi->part_type);
    if (rc == 0)
        rc = set_str(&p->uuid, pi->part_uuid);
    return rc;
}

/* Collect every place the device is mounted (bind mounts, several
 * namespaces' views, ...). Returns the fstype of the first match. */
static int fill_mountpoints(struct blk_device *d, const struct mount_table *mt,
                            const char **mount_fstype)
{
    struct blk_filesystem *fs = &d->filesystem;
    *mount_fstype = NULL;
    for (size_t i = 0; i < mt->n; i++) {
        const struct mount_entry *m = &mt->v[i];
        if (!mount_is_of(m, d->devmajor, d->devminor, d->devname))
            continue;
        if (*mount_fstype == NULL)
            *mount_fstype = m->fstype;
        if (strv_contains(fs->mountpoints, fs->n_mountpoints, m->mountpoint))
            continue;
        int rc = strv_push(&fs->mountpoints, &fs->n_mountpoints, m->mountpoint);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A filesystem is reported when a signature was found, or when the device
 * is mounted (the probe may have been impossible, the mount is proof). */
static int fill_filesystem(struct blk_device *d, const struct probe_info *pi,
                           const struct mount_table *mt)
{
    const char *mount_fstype;
    int rc = fill_mountpoints(d, mt, &mount_fstype);
    if (rc != 0)
        return rc;
    d->has_filesystem = pi->fstype != NULL || d->filesystem.n_mountpoints > 0;
    if (!d->has_filesystem)
        return 0;
    rc = set_str(&d->filesystem.fstype, first_set(pi->fstype, mount_fstype));
    if (rc == 0)
        rc = set_str(&d->filesystem.label, pi->label);
    if (rc == 0)
        rc = set_str(&d->filesystem.uuid, pi->uuid);
    return rc;
}

/* Unpopulated sub-structures still get "" strings so consumers can read
 * every field unconditionally. */
static int fill_defaults(struct blk_device *d)
{
    char **strs[] = {&d->partition.parent, &d->partition.name,   &d->partition.scheme,
                     &d->partition.typeid, &d->partition.uuid,   &d->filesystem.fstype,
                     &d->filesystem.label, &d->filesystem.uuid};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (*strs[i] == NULL && set_str(strs[i], NULL) != 0)
            return -ENOMEM;
    return 0;
}

static void compute_available(struct blk_device *d, bool has_partitions, bool uncertain)
{
    struct blk_avail_input in = {
        .size = d->size,
        .model = d->model,
        .major = d->devmajor,
        .is_partition = d->has_partition,
        .has_partitions = has_partitions,
        .part_scheme = d->partition.scheme,
        .part_typeid = d->partition.typeid,
        .has_fs = d->has_filesystem || uncertain,
        .mounted = d->filesystem.n_mountpoints > 0,
    };
    d->available = blk_device_is_available(&in);
}

/*
 * Build the description of one disk or partition. `disk` is the whole disk
 * (== ud for a disk). Returns 0 or -ENOMEM; d is cleaned up on error.
 */
static int build_device(struct blk_device *d, struct udev_device *ud,
                        struct udev_device *disk, bool has_partitions,
                        const struct mount_table *mt)
{
    struct probe_info pi = {0};
    *d = (struct blk_device){0};
    /* An unreadable size leaves 0, which makes the device unavailable. */
    parse_u64_str(udev_device_get_sysattr_value(ud, "size"), &d->size);

    int rc = fill_identity(d, ud);
    if (rc == 0)
        rc = fill_disk_attrs(d, ud, disk);
    if (rc == 0)
        rc = fill_connection(d, ud);
    if (rc == 0)
        rc = probe_device(ud, d->devname, d->size, d->model, &pi);
    if (rc == 0 && disk != ud)
        rc = fill_partition(d, ud, disk, &pi);
    if (rc == 0)
        rc = fill_filesystem(d, &pi, mt);
    if (rc == 0)
        rc = fill_defaults(d);
    if (rc == 0)
        compute_available(d, has_partitions, pi.uncertain);
    probe_info_free(&pi);
    if (rc != 0)
        blk_device_free(d);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Enumeration                                                              */
/* ------------------------------------------------------------------------ */

struct list_ctx {
    struct udev *udev;
    const struct mount_table *mt;
    bool all;
    struct blk_device_list *out;
    size_t cap;
};

static int list_append(struct list_ctx *c, struct blk_device *d)
{
    if (c->out->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct blk_device *v = realloc(c->out->devs, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        c->out->devs = v;
        c->cap = cap;
    }
    c->out->devs[c->out->n++] = *d;
    return 0;
}

static int add_device(struct list_ctx *c, struct udev_device *ud, struct udev_device *disk,
                      bool has_partitions)
{
    /* Hidden block devices (e.g. NVMe multipath paths) have no node and
     * cannot be used or even named by clients. */
    if (udev_device_get_devnode(ud) == NULL)
        return 0;
    struct blk_device d;
    int rc = build_device(&d, ud, disk, has_partitions, c->mt);
    if (rc != 0)
        return rc;
    if (!c->all && !d.available) {
        blk_device_free(&d);
        return 0;
    }
    rc = list_append(c, &d);
    if (rc != 0)
        blk_device_free(&d);
    return rc;
}

static bool has_devtype(struct udev_device *ud, const char *devtype)
{
    const char *t = udev_device_get_devtype(ud);
    return t != NULL && strcmp(t, devtype) == 0;
}

/* Partitions of `disk`, as new references the caller must unref. */
static int collect_partitions(struct list_ctx *c, struct udev_device *disk,
                              struct udev_device ***parts, size_t *n)
{
    struct udev_enumerate *en = udev_enumerate_new(c->udev);
    if (en == NULL)
        return -ENOMEM;
    int rc = udev_enumerate_add_match_subsystem(en, "block");
    if (rc >= 0)
        rc = udev_enumerate_add_match_parent(en, disk);
    if (rc >= 0)
        rc = udev_enumerate_scan_devices(en);
    struct udev_list_entry *e;
    udev_list_entry_foreach(e, rc >= 0 ? udev_enumerate_get_list_entry(en) : NULL)
    {
        struct udev_device *p =
            udev_device_new_from_syspath(c->udev, udev_list_entry_get_name(e));
        if (p == NULL) /* vanished meanwhile */
            continue;
        if (!has_devtype(p, "partition")) {
            udev_device_unref(p);
            continue;
        }
        struct udev_device **v = realloc(*parts, (*n + 1) * sizeof(*v));
        if (v == NULL) {
            udev_device_unref(p);
            rc = -ENOMEM;
            break;
        }
        *parts = v;
        v[(*n)++] = p;
    }
    udev_enumerate_unref(en);
    return rc < 0 ? rc : 0;
}

/* A disk is listed first, immediately followed by its partitions. */
static int add_disk(struct list_ctx *c, struct udev_device *disk)
{
    struct udev_device **parts = NULL;
    size_t n = 0;
    int rc = collect_partitions(c, disk, &parts, &n);
    if (rc == 0)
        rc = add_device(c, disk, disk, n > 0);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = add_device(c, parts[i], disk, false);
        udev_device_unref(parts[i]);
    }
    free(parts);
    return rc;
}

static int enumerate_disks(struct list_ctx *c)
{
    struct udev_enumerate *en = udev_enumerate_new(c->udev);
    if (en == NULL)
        return -ENOMEM;
    int rc = udev_enumerate_add_match_subsystem(en, "block");
    if (rc >= 0)
        rc = udev_enumerate_scan_devices(en);
    struct udev_list_entry *e;
    udev_list_entry_foreach(e, rc >= 0 ? udev_enumerate_get_list_entry(en) : NULL)
    {
        struct udev_device *ud =
            udev_device_new_from_syspath(c->udev, udev_list_entry_get_name(e));
        if (ud == NULL)
            continue;
        if (has_devtype(ud, "disk"))
            rc = add_disk(c, ud);
        udev_device_unref(ud);
        if (rc < 0)
            break;
    }
    udev_enumerate_unref(en);
    return rc < 0 ? rc : 0;
}

void blk_device_list_free(struct blk_device_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        blk_device_free(&l->devs[i]);
    free(l->devs);
    l->devs = NULL;
    l->n = 0;
}

int blk_device_list(bool all, struct blk_device_list *out)
{
    if (out == NULL)
        return -EINVAL;
    *out = (struct blk_device_list){0};

    struct mount_table mt;
    int rc = mount_table_load(&mt);
    if (rc != 0)
        return rc;
    struct udev *udev = udev_new();
    if (udev == NULL) {
        mount_table_free(&mt);
        return -ENOMEM;
    }
    struct list_ctx c = {.udev = udev, .mt = &mt, .all = all, .out = out};
    rc = enumerate_disks(&c);
    udev_unref(udev);
    mount_table_free(&mt);
    if (rc != 0)
        blk_device_list_free(out);
    return rc;
}
