#!/usr/bin/env bash
# Installs every Debian package needed to build, run and test the io-engine.
# Idempotent: packages already present are skipped by apt; `apt-get update` runs once
# per machine (a stamp file records it).
set -euo pipefail

PKGS=(
  # build
  build-essential meson ninja-build pkg-config clang
  # API: gRPC core + protobuf-c
  libgrpc-dev protobuf-c-compiler libprotobuf-c-dev protobuf-compiler libprotobuf-dev
  # I/O, ids, host devices, JSON, CRC32C
  liburing-dev libaio-dev uuid-dev libudev-dev libblkid-dev libjansson-dev libyaml-dev libisal-dev libssl-dev
  # tests
  libcmocka-dev python3 python3-grpcio python3-protobuf python3-pytest protobuf-compiler-grpc
  util-linux e2fsprogs udev
  # QEMU guest tests (tests/qemu): a Linux NVMe/TCP initiator/target in a TCG guest
  qemu-system-x86 busybox-static nvme-cli kmod cpio gzip netcat-openbsd
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: must run as root (apt-get)" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  stamp=/var/lib/apt/periodic/io-engine-update-stamp
  if [ ! -e "$stamp" ]; then
    apt-get update
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
