#!/usr/bin/env bash
# Boot the test guest (Debian's kernel + the initramfs of build-initramfs.sh) under QEMU TCG,
# serial console on stdout. The guest runs SCRIPT as /test.sh, prints "/test.sh rc=N" and
# powers off.
#
# Usage: run-guest.sh [options] [SCRIPT]        (-h: this text)
#   -p PORT | -p GUESTPORT:HOSTPORT  guest's 10.0.2.100:GUESTPORT -> host 127.0.0.1:HOSTPORT
#                                    (slirp guestfwd: guestfwd-relay.sh, i.e. one busybox
#                                    nc to 127.0.0.1, per connection); repeatable
#   -H HOSTPORT:GUESTPORT            host 127.0.0.1:HOSTPORT -> guest 10.0.2.15:GUESTPORT
#                                    (slirp hostfwd); repeatable
#   -f SRC:DEST                      put host file SRC at DEST in the guest; repeatable
#   -c SOCKET                        second serial port (guest /dev/ttyS1) as a unix socket
#                                    server at SOCKET: the channel of guest/ioe-ctl
#   -t SECONDS                       kill QEMU after this long (default 300)
#   -a ARGS                          more kernel command line
#   -m MIB / -n CPUS                 guest memory (default 1024) / vCPUs (default 2)
# Env: KERNEL, INITRD: skip fetch-kernel.sh / build-initramfs.sh (both cached anyway);
#      IOE_QEMU_CACHE (default /var/tmp/ioe-qemu); IOE_QEMU_WORKDIR: where the per-boot
#      initramfs goes (default: a temp dir removed at exit).
#
# Network rule: the guest reaches the host's loopback and nothing else. slirp runs with
# restrict=on (no packet leaves to the host or beyond), and the only ways out are the
# guestfwd entries above, each to 127.0.0.1. hostfwd binds 127.0.0.1 only.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
case "$HERE" in *[!A-Za-z0-9/._+-]*) echo "run-guest: $HERE: the guestfwd command cannot hold this path" >&2; exit 1 ;; esac
GUESTFWD=() HOSTFWD=() FILES=() CTL= TIMEOUT=300 APPEND= MEM=1024 SMP=2
GPORTS=() HPORTS=()
port() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ] || { echo "run-guest: bad port '$1'" >&2; exit 2; }; }
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d'; }
while getopts "p:H:f:c:t:a:m:n:h" o; do
  case $o in
    p) g=${OPTARG%%:*}; h=${OPTARG#*:}; port "$g"; port "$h"
       GUESTFWD+=("guestfwd=tcp:10.0.2.100:$g-cmd:$HERE/guestfwd-relay.sh $h"); GPORTS+=("$g") ;;
    H) h=${OPTARG%%:*}; g=${OPTARG#*:}; port "$h"; port "$g"
       HOSTFWD+=("hostfwd=tcp:127.0.0.1:$h-10.0.2.15:$g"); HPORTS+=("$g") ;;
    f) FILES+=("$OPTARG") ;;
    c) CTL=$OPTARG ;;
    t) TIMEOUT=$OPTARG ;;
    a) APPEND=$OPTARG ;;
    m) MEM=$OPTARG ;;
    n) SMP=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
SCRIPT=${1:-}

for t in qemu-system-x86_64 busybox cpio gzip; do
  command -v "$t" >/dev/null || { echo "run-guest: $t missing (run scripts/install-deps.sh)" >&2; exit 1; }
done
if [ -z "${KERNEL:-}" ] || [ -z "${INITRD:-}" ]; then
  eval "$("$HERE/fetch-kernel.sh")"; export KV KROOT
  eval "$("$HERE/build-initramfs.sh")"
fi

if [ -n "${IOE_QEMU_WORKDIR:-}" ]; then W=$IOE_QEMU_WORKDIR; mkdir -p "$W"
else W=$(mktemp -d /tmp/ioe-qemu-boot.XXXXXX); trap 'rm -rf "$W"' EXIT; fi
# Per-boot overlay archive (/test.sh and -f files) appended to the cached base archive.
O=$W/overlay; rm -rf "$O"; mkdir -p "$O"
[ -n "$SCRIPT" ] && install -m 0755 "$SCRIPT" "$O/test.sh"
for f in ${FILES[@]+"${FILES[@]}"}; do
  src=${f%%:*} dst=${f#*:}; mkdir -p "$O$(dirname "$dst")"; cp "$src" "$O$dst"
done
cp "$INITRD" "$W/initrd.cpio.gz"
(cd "$O" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) >> "$W/initrd.cpio.gz"

NETDEV="user,id=n0,ipv6=off,restrict=on"
for e in ${GUESTFWD[@]+"${GUESTFWD[@]}"} ${HOSTFWD[@]+"${HOSTFWD[@]}"}; do NETDEV+=",$e"; done
join() { local IFS=,; echo "$*"; }
CMDLINE="console=ttyS0 panic=-1 quiet loglevel=4 ioe.gw=10.0.2.100"
CMDLINE+=" ioe.ports=$(join ${GPORTS[@]+"${GPORTS[@]}"}) ioe.hostfwd=$(join ${HPORTS[@]+"${HPORTS[@]}"}) $APPEND"
SERIAL=(-serial stdio)
[ -n "$CTL" ] && SERIAL+=(-serial "unix:$CTL,server=on,wait=off")

# --foreground: QEMU stays in the caller's process group, so killing that group stops it.
timeout --foreground -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp "$SMP" -m "$MEM" \
  -nodefaults -no-reboot -display none -monitor none "${SERIAL[@]}" \
  -kernel "$KERNEL" -initrd "$W/initrd.cpio.gz" -append "$CMDLINE" \
  -netdev "$NETDEV" -device virtio-net-pci,netdev=n0,romfile= </dev/null
