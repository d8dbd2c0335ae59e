#!/usr/bin/env bash
# Build the test guest's base initramfs for kernel $KV (unpacked at $KROOT by
# fetch-kernel.sh), cached under $IOE_QEMU_CACHE/initramfs/$KV-<hash of the inputs>.cpio.gz.
# The hash covers this script, tests/qemu/guest/*, the module lists, and every host binary,
# library and config copied in, so a changed input builds a new one and an unchanged one is
# reused. Prints one line for `eval`:  INITRD=<path>
#
# Contents: busybox (static; sh, nc, dd, cmp, sha256sum, mount, losetup, ...), nvme-cli,
# e2fsprogs (mke2fs/mkfs.ext4, e2fsck/fsck.ext4) with their shared libraries, the kernel
# modules below with a modules.dep (so `modprobe NAME` works in the guest), fixed NVMe host
# identities (guest/hosts.txt), /init and the guest helpers (guest/: ioe-ctl, ioe-host,
# ioe-nvmet, the kernel NVMe/TCP target's configfs set-up).
#
# Usage: KV=... KROOT=... build-initramfs.sh      (or: eval "$(fetch-kernel.sh)"; build-initramfs.sh)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${IOE_QEMU_CACHE:-/var/tmp/ioe-qemu}
: "${KV:?KV not set (run fetch-kernel.sh)}" "${KROOT:?KROOT not set (run fetch-kernel.sh)}"
MODDIR=$KROOT/lib/modules/$KV
[ -f "$MODDIR/modules.dep" ] || depmod -b "$KROOT" "$KV"

# Loaded by /init at boot, in dependency order: the NIC, the NVMe/TCP initiator, ext4, loop.
BOOT_MODULES="virtio_pci virtio_net crc32c_generic crc32c-intel nvme-tcp ext4 loop"
# In the initramfs for `modprobe` on demand: the kernel NVMe/TCP target (nvmet, nvmet-tcp,
# configfs: a module in this kernel, CONFIG_CONFIGFS_FS=m) and RAM disks (brd).
EXTRA_MODULES="configfs nvmet nvmet-tcp brd"
BINARIES="/bin/busybox /usr/sbin/nvme /usr/sbin/mke2fs /usr/sbin/e2fsck"

for b in $BINARIES; do [ -x "$b" ] || { echo "build-initramfs: $b missing (run scripts/install-deps.sh)" >&2; exit 1; }; done
file_libs() { ldd "$1" 2>/dev/null | awk '/=>/ && $3 ~ /^\// {print $3} /^\t\/.*ld-linux/ {print $1}'; }
LIBS=$(for b in $BINARIES; do file_libs "$b"; done | sort -u)
deps() { modprobe -d "$KROOT" -S "$KV" --show-depends "$1" | awk '$1=="insmod"{print $2}'; }
BOOT_KOS=$(for m in $BOOT_MODULES; do deps "$m"; done | awk '!seen[$0]++')
ALL_KOS=$( (echo "$BOOT_KOS"; for m in $EXTRA_MODULES; do deps "$m"; done) | awk '!seen[$0]++')
[ -n "$BOOT_KOS" ] || { echo "build-initramfs: cannot resolve modules in $MODDIR" >&2; exit 1; }

HASH=$( {
  echo "$KV $BOOT_MODULES / $EXTRA_MODULES"
  sha256sum "$0" "$HERE"/guest/* /etc/mke2fs.conf $BINARIES $LIBS | awk '{print $1}'
  echo "$ALL_KOS" | sed "s|^$KROOT||"
} | sha256sum | cut -c1-16)
OUT=$CACHE/initramfs/$KV-$HASH.cpio.gz
if [ -f "$OUT" ]; then echo "INITRD=$OUT"; exit 0; fi

mkdir -p "$CACHE/initramfs"
exec 9>"$CACHE/.initramfs.lock"
flock 9
if [ -f "$OUT" ]; then echo "INITRD=$OUT"; exit 0; fi
W=$(mktemp -d "$CACHE/initramfs/build.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,var,mnt,etc/nvme,etc/ioe,lib64,lib/modules/"$KV"}

cp /bin/busybox "$W/bin/busybox"
# nvme-cli and e2fsprogs in /sbin, before busybox --install runs in the guest, so that the
# real tools win over busybox's applets of the same name (mke2fs).
cp /usr/sbin/nvme /usr/sbin/mke2fs /usr/sbin/e2fsck "$W/sbin/"
for l in mkfs.ext4 mkfs.ext2; do ln -s mke2fs "$W/sbin/$l"; done
ln -s e2fsck "$W/sbin/fsck.ext4"
cp /etc/mke2fs.conf "$W/etc/"
for lib in $LIBS; do
  d="$W$(dirname "$lib")"; mkdir -p "$d"; cp -L "$lib" "$d/"
done
# Debian's /lib is a symlink to usr/lib; libraries resolved under either path work.
[ -e "$W/lib64/ld-linux-x86-64.so.2" ] || cp -L /lib64/ld-linux-x86-64.so.2 "$W/lib64/"

# Kernel modules, at their paths under lib/modules/$KV, with a depmod of just this set.
for ko in $ALL_KOS; do
  rel=${ko#$MODDIR/}; mkdir -p "$W/lib/modules/$KV/$(dirname "$rel")"; cp "$ko" "$W/lib/modules/$KV/$rel"
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
  [ -f "$MODDIR/$f" ] && cp "$MODDIR/$f" "$W/lib/modules/$KV/"
done
depmod -b "$W" "$KV"
echo "$BOOT_KOS" | sed "s|^$MODDIR/||" > "$W/etc/ioe/modules.boot"

# NVMe host identities: boot as "a".
cp "$HERE/guest/hosts.txt" "$W/etc/ioe/hosts.txt"
awk '$1=="a"{print $2}' "$HERE/guest/hosts.txt" > "$W/etc/nvme/hostnqn"
awk '$1=="a"{print $3}' "$HERE/guest/hosts.txt" > "$W/etc/nvme/hostid"

install -m 0755 "$HERE/guest/init" "$W/init"
install -m 0755 "$HERE/guest/ioe-host" "$HERE/guest/ioe-ctl" "$HERE/guest/ioe-nvmet" "$W/bin/"

# gzip'd newc archive padded to 512 bytes, so the per-boot overlay archive that
# run-guest.sh appends starts aligned (the kernel unpacks concatenated archives).
(cd "$W" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -6) > "$OUT.tmp"
truncate -s %512 "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
# keep only the newest few builds
ls -1t "$CACHE"/initramfs/*.cpio.gz | tail -n +6 | xargs -r rm -f
echo "build-initramfs: built $OUT ($(du -h "$OUT" | cut -f1)); boot modules: $(tr '\n' ' ' < "$W/etc/ioe/modules.boot")" >&2
echo "INITRD=$OUT"
