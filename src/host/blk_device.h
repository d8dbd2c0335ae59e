/*
 * Host block-device enumeration (backs HostRpc.ListBlockDevices).
 *
 * Devices are discovered through libudev over sysfs. Identification data
 * (filesystem and partition-table entries) comes from the udev database when
 * the device has been processed by udevd; otherwise the device node is probed
 * read-only with libblkid, so the listing also works in containers that have
 * no udevd (/run/udev absent).
 */
#ifndef HOST_BLK_DEVICE_H
#define HOST_BLK_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every char * below is owned by the list and, after a successful
 * blk_device_list(), never NULL ("" when the value is unknown). */

struct blk_partition {
    char *parent;   /* devname of the whole disk, e.g. "/dev/sda" */
    uint32_t number;
    char *name;     /* partition label (GPT name), "" if none */
    char *scheme;   /* "gpt", "dos", ... */
    char *typeid;   /* GPT type GUID or MBR type such as "0x83" */
    char *uuid;     /* partition entry UUID */
};

struct blk_filesystem {
    char *fstype;
    char *label;
    char *uuid;
    char **mountpoints;
    size_t n_mountpoints;
};

struct blk_device {
    char *devname;      /* /dev/xxx */
    char *devtype;      /* "disk" or "partition" */
    uint32_t devmajor, devminor;
    char *model;        /* ID_MODEL or sysfs device/model, "" if none */
    char *devpath;      /* sysfs devpath (udev_device_get_devpath) */
    char **devlinks;
    size_t n_devlinks;
    uint64_t size;      /* in 512-byte sectors */
    bool has_partition;
    struct blk_partition partition;   /* when devtype is partition */
    bool has_filesystem;
    struct blk_filesystem filesystem; /* when a fs signature is present or mounted */
    bool available;
    char *connection_type; /* ID_BUS / derived: "nvme", "scsi", "virtio", "" ... */
    bool has_rotational;
    bool is_rotational;    /* from sysfs queue/rotational */
};

struct blk_device_list {
    struct blk_device *devs;
    size_t n;
};

/* Enumerate; all=false keeps only available devices. Returns 0 or -errno.
 * On error *out is left empty (nothing to free). */
int blk_device_list(bool all, struct blk_device_list *out);
void blk_device_list_free(struct blk_device_list *l);

/* Pure availability rule, unit-testable (no I/O). */
struct blk_avail_input {
    uint64_t size;
    const char *model;
    uint32_t major;
    bool is_partition;
    bool has_partitions;
    const char *part_scheme;
    const char *part_typeid;
    bool has_fs;
    bool mounted;
};
bool blk_device_is_available(const struct blk_avail_input *in);

/*
 * Parse one /proc/self/mountinfo line: extracts the st_dev major:minor and
 * the mount point, decoding the kernel's octal escapes (\040 etc.).
 * Returns 0 and stores a malloc'd string in *mountpoint, -EINVAL if the line
 * is malformed, -ENOMEM on allocation failure. Outputs are untouched on error.
 */
int blk_parse_mountinfo_line(const char *line, uint32_t *major, uint32_t *minor,
                             char **mountpoint);

#endif /* HOST_BLK_DEVICE_H */
