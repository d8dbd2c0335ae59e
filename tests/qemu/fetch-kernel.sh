#!/usr/bin/env bash
# Fetch Debian 12's kernel package WITHOUT installing it: `apt-get download`, `dpkg-deb -x`
# into the cache, `depmod -b`. Nothing on the host changes except the cache.
#
# Prints one line for `eval`:  KV=<kernel version> KROOT=<unpacked root> KERNEL=<vmlinuz>
#
# Env: IOE_QEMU_CACHE  cache directory (default /var/tmp/ioe-qemu); the kernel goes to
#                      $IOE_QEMU_CACHE/kernel/$KV/root (boot/vmlinuz-$KV, lib/modules/$KV)
#      IOE_QEMU_KV     pin a kernel version (e.g. 6.1.0-57-amd64) instead of the one
#                      linux-image-amd64 depends on
# The two newest kernel versions stay cached; older ones are removed when a new one comes.
# Offline (no apt lists): falls back to the newest kernel already in the cache.
set -euo pipefail
CACHE=${IOE_QEMU_CACHE:-/var/tmp/ioe-qemu}
mkdir -p "$CACHE/kernel"

done_kv() { [ -f "$CACHE/kernel/$1/.complete" ]; }
emit() { echo "KV=$1 KROOT=$CACHE/kernel/$1/root KERNEL=$CACHE/kernel/$1/root/boot/vmlinuz-$1"; }

resolve_kv() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/{sub(/^linux-image-/, "", $2); print $2; exit}'
}

KV=${IOE_QEMU_KV:-}
[ -n "$KV" ] || KV=$(resolve_kv)
if [ -z "$KV" ]; then
  # No package lists: use a cached kernel if there is one, else update the lists once.
  KV=$(ls -1 "$CACHE/kernel" 2>/dev/null | sort -V | while read -r k; do done_kv "$k" && echo "$k"; done | tail -1)
  if [ -z "$KV" ]; then
    apt-get update -qq >&2
    KV=$(resolve_kv)
  fi
fi
[ -n "$KV" ] || { echo "fetch-kernel: cannot tell which kernel to fetch (apt-cache depends linux-image-amd64 gave nothing)" >&2; exit 1; }
if done_kv "$KV"; then emit "$KV"; exit 0; fi

exec 9>"$CACHE/.kernel.lock"
flock 9
if done_kv "$KV"; then emit "$KV"; exit 0; fi   # another process fetched it meanwhile
D=$CACHE/kernel/$KV
rm -rf "$D" "$D.tmp" && mkdir -p "$D.tmp"
(cd "$D.tmp" && apt-get download -qq "linux-image-$KV" 2>&1 | grep -v unsandboxed >&2) || true
DEB=$(ls "$D.tmp"/linux-image-"$KV"_*.deb 2>/dev/null | head -1)
[ -f "$DEB" ] || { echo "fetch-kernel: apt-get download linux-image-$KV failed" >&2; exit 1; }
dpkg-deb -x "$DEB" "$D.tmp/root"
rm -f "$DEB"
[ -f "$D.tmp/root/boot/vmlinuz-$KV" ] || { echo "fetch-kernel: no boot/vmlinuz-$KV in the package" >&2; exit 1; }
depmod -b "$D.tmp/root" "$KV"
touch "$D.tmp/.complete"
mv "$D.tmp" "$D"
# A new kernel version: keep it and the one before (about 400 MiB each), drop older ones.
ls -1 "$CACHE/kernel" | grep -v '\.tmp$' | sort -V | head -n -2 | while read -r old; do rm -rf "${CACHE:?}/kernel/$old"; done
emit "$KV"
